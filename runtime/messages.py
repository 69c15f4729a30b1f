"""Translatable messages of the data layer (validation, permissions), in every UI locale.

Interface chrome is translated with Babel catalogues in the web layer; these messages
are raised below it, so they carry a code and parameters and are rendered late.
"""

from __future__ import annotations

from typing import Any

MESSAGES: dict[str, dict[str, str]] = {
    "required": {"en": "This field is required.", "zh": "此字段为必填项。"},
    "invalid": {"en": "Invalid value.", "zh": "无效的值。"},
    "not_a_number": {"en": "Enter a number.", "zh": "请输入数字。"},
    "not_an_integer": {"en": "Enter a whole number.", "zh": "请输入整数。"},
    "not_a_date": {"en": "Enter a date as YYYY-MM-DD.", "zh": "请输入日期，格式为 YYYY-MM-DD。"},
    "not_a_datetime": {
        "en": "Enter a date and time as YYYY-MM-DD HH:MM.",
        "zh": "请输入日期和时间，格式为 YYYY-MM-DD HH:MM。",
    },
    "not_a_boolean": {"en": "Enter yes or no.", "zh": "请选择是或否。"},
    "min_value": {"en": "Must be at least {min}.", "zh": "不能小于 {min}。"},
    "max_value": {"en": "Must be at most {max}.", "zh": "不能大于 {max}。"},
    "min_length": {"en": "Must be at least {min} characters.", "zh": "至少 {min} 个字符。"},
    "max_length": {"en": "Must be at most {max} characters.", "zh": "最多 {max} 个字符。"},
    "unknown_option": {"en": "'{value}' is not one of the choices.", "zh": "“{value}”不是可选项。"},
    "invalid_email": {"en": "Enter a valid e-mail address.", "zh": "请输入有效的电子邮箱。"},
    "invalid_phone": {"en": "Enter a valid phone number.", "zh": "请输入有效的电话号码。"},
    "invalid_url": {
        "en": "Enter a valid URL (http or https).",
        "zh": "请输入有效的网址（http 或 https）。",
    },
    "invalid_currency": {
        "en": "'{value}' is not an allowed currency.",
        "zh": "“{value}”不是允许的币种。",
    },
    "unknown_record": {
        "en": "No {entity} with id {value}.",
        "zh": "不存在 id 为 {value} 的{entity}。",
    },
    "unknown_user": {
        "en": "No active user with id {value}.",
        "zh": "不存在 id 为 {value} 的有效用户。",
    },
    "unknown_reference": {
        "en": "Nothing you can see is named “{value}”.",
        "zh": "找不到您可查看的“{value}”。",
    },
    "not_unique": {
        "en": "Another record already has this value.",
        "zh": "已有其他记录使用了此值。",
    },
    "duplicate_of": {
        "en": "{entity} “{title}” already has this value.",
        "zh": "{entity}“{title}”已使用此值。",
    },
    "owner_required": {
        "en": "A record needs an owner: choose one (or leave it as you).",
        "zh": "记录必须有负责人：请选择一位（或保留为您自己）。",
    },
    "readonly": {"en": "This field is read-only.", "zh": "此字段为只读。"},
    "rollup_readonly": {
        "en": "This field is computed from related records and cannot be written.",
        "zh": "此字段由关联记录汇总计算，不能写入。",
    },
    "no_write_permission": {
        "en": "You may not change this field.",
        "zh": "您无权修改此字段。",
    },
    "unknown_field": {"en": "Unknown field.", "zh": "未知字段。"},
    "filter_too_deep": {
        "en": "Filter groups nest at most {max} levels deep.",
        "zh": "筛选条件组最多嵌套 {max} 层。",
    },
    "empty_filter_group": {
        "en": "A filter group needs at least one condition.",
        "zh": "筛选条件组至少需要一个条件。",
    },
    "invalid_filter_group": {
        "en": "Expected a condition (field, op, value) or a group (any, all or not) "
        "holding a list of conditions.",
        "zh": "应为条件（field、op、value）或包含条件列表的条件组（any、all 或 not）。",
    },
    "unknown_measure": {
        "en": "Unknown measure: use count, sum, avg, min, max or count_distinct.",
        "zh": "未知的度量：请使用 count、sum、avg、min、max 或 count_distinct。",
    },
    "not_measurable": {
        "en": "This field cannot be measured that way.",
        "zh": "此字段不能这样计算。",
    },
    "unknown_bucket": {
        "en": "Unknown date bucket: use day, week, month, quarter or year.",
        "zh": "未知的日期分组：请使用 day、week、month、quarter 或 year。",
    },
    "not_groupable": {
        "en": "Records cannot be grouped by this field.",
        "zh": "不能按此字段分组。",
    },
    "invalid_rows": {"en": "Expected a list of rows.", "zh": "应为行的列表。"},
    "too_many_rows": {
        "en": "At most {max} rows are allowed ({count} given).",
        "zh": "最多允许 {max} 行（提交了 {count} 行）。",
    },
    "invalid_row_id": {
        "en": "A row id must be a whole number (leave it out for a new row).",
        "zh": "行 id 必须是整数（新行请不要填写 id）。",
    },
    "number_too_large": {"en": "The number is too large.", "zh": "数字过大。"},
    "invalid_record_id": {
        "en": "Enter a record id (a whole number).",
        "zh": "请输入记录 id（整数）。",
    },
    "record_archived": {
        "en": "This record is archived; restore it before changing it.",
        "zh": "此记录已归档，请先恢复再修改。",
    },
    "email_taken": {
        "en": "Another user already has this e-mail address.",
        "zh": "该电子邮箱已被其他用户使用。",
    },
    "unknown_role": {
        "en": "'{value}' is not a role of this app.",
        "zh": "“{value}”不是本应用的角色。",
    },
    "unknown_team": {"en": "No team with id {value}.", "zh": "不存在 id 为 {value} 的团队。"},
    "unknown_timezone": {
        "en": "'{value}' is not a time zone (use a name such as Asia/Shanghai).",
        "zh": "“{value}”不是有效的时区（请使用如 Asia/Shanghai 的名称）。",
    },
    "bool_true": {"en": "Yes", "zh": "是"},
    "bool_false": {"en": "No", "zh": "否"},
    "rule_failed": {"en": "{message}", "zh": "{message}"},
    "stage_missing_fields": {
        "en": "To enter {stage}, fill in: {fields}.",
        "zh": "进入“{stage}”阶段前，请填写：{fields}。",
    },
    "stage_rule_failed": {"en": "{stage}: {message}", "zh": "{stage}：{message}"},
    "stage_checklist_open": {
        "en": "To enter {stage}, tick off: {items}.",
        "zh": "进入“{stage}”阶段前，请完成：{items}。",
    },
    "stage_not_allowed": {
        "en": "A record cannot move from {from} to {to}.",
        "zh": "记录不能从“{from}”直接转到“{to}”。",
    },
    "stage_retired": {
        "en": "{stage} is retired: no record may enter it.",
        "zh": "“{stage}”阶段已停用，记录不能再进入。",
    },
    "unknown_stage": {"en": "'{value}' is not a stage here.", "zh": "“{value}”不是有效的阶段。"},
    "expression_failed": {
        "en": "Could not evaluate a rule: {detail}",
        "zh": "无法计算规则：{detail}",
    },
}


def render_message(code: str, params: dict[str, Any], locale: str = "en") -> str:
    texts = MESSAGES.get(code) or MESSAGES["invalid"]
    base = (locale or "en").split("-")[0].split("_")[0]
    template = texts.get(base) or texts["en"]
    values = {}
    for key, value in params.items():
        # Labels (translatable dicts or Label objects) render in the same locale.
        getter = getattr(value, "get", None)
        if callable(getter) and not isinstance(value, dict):
            value = value.get(base)
        elif isinstance(value, dict):
            value = value.get(base) or value.get("en") or next(iter(value.values()), "")
        values[key] = value
    try:
        return template.format(**values)
    except (KeyError, IndexError):
        return template
