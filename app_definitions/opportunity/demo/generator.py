"""Demo data for the reference app: a sales organisation with a year of history.

``load_demo(db, repo, users, model)`` fills an EMPTY database (tables already created
from the opportunity app) with teams, users who can log in, accounts, contacts, leads,
opportunities, products, quotes with lines, activities and tasks — in Chinese and
English, deterministic for a given ``seed`` and ``today``.

Everything is planned in memory first, then written through the record repository
(``repo.bulk_create`` as the system principal, in chunks) so coercion, validation and
formulas run exactly as for real input. What a user cannot write (owner, creation
time, read-only fields such as ``closed_date`` or ``converted_opportunity``) is set
afterwards with plain SQL UPDATEs, one ``executemany`` per entity; autonumbers are
then renumbered by creation date so ``OPP-2025-0042`` really was created in 2025.

``scale`` multiplies the record counts (tests use 0.02); users and products are not
scaled.
"""

from __future__ import annotations

import math
import random
import re
import time
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from runtime.fieldtypes import format_autonumber, period_key, type_of

DEMO_PASSWORD = "trellis-demo"
CHUNK = 500

BASE_COUNTS = {
    "account": 500,
    "contact": 1500,
    "lead": 2000,
    "opportunity": 800,
    "activity": 3000,
    "task": 500,
}

# --------------------------------------------------------------------------- org chart
# fmt: off

REGIONS = (
    "east_china",
    "north_china",
    "south_china",
    "central_china",
    "southwest",
    "northwest",
    "northeast",
    "overseas",
)


@dataclass(frozen=True)
class TeamSpec:
    key: str
    name: str
    manager: tuple[str, str, str]  # email, name, locale
    reps: tuple[tuple[str, str, str], ...]
    cities: tuple[str, ...] = ()  # cities (by zh name) this team covers
    regions: tuple[str, ...] = ()  # whole regions this team covers


TEAMS: tuple[TeamSpec, ...] = (
    TeamSpec(
        "east",
        "华东销售一部 East China Sales 1 (Shanghai)",
        ("manager.east@example.com", "陈建国 Chen Jianguo", "zh"),
        (
            ("rep.east1@example.com", "张伟 Zhang Wei", "zh"),
            ("rep.east2@example.com", "王磊 Wang Lei", "zh"),
            ("rep.east3@example.com", "李静 Li Jing", "zh"),
            ("rep.east4@example.com", "赵敏 Zhao Min", "zh"),
        ),
        cities=("上海", "苏州", "无锡", "南京", "合肥"),
    ),
    TeamSpec(
        "east2",
        "华东销售二部 East China Sales 2 (Hangzhou)",
        ("manager.east2@example.com", "周海燕 Zhou Haiyan", "zh"),
        (
            ("rep.hz1@example.com", "吴俊杰 Wu Junjie", "zh"),
            ("rep.hz2@example.com", "徐丽 Xu Li", "zh"),
            ("rep.hz3@example.com", "孙浩然 Sun Haoran", "zh"),
        ),
        cities=("杭州", "宁波", "福州", "厦门", "济南", "青岛"),
    ),
    TeamSpec(
        "north",
        "华北销售部 North China Sales (Beijing)",
        ("manager.north@example.com", "刘志强 Liu Zhiqiang", "zh"),
        (
            ("rep.north1@example.com", "杨洋 Yang Yang", "zh"),
            ("rep.north2@example.com", "郭晓东 Guo Xiaodong", "zh"),
            ("rep.north3@example.com", "马娜 Ma Na", "zh"),
        ),
        regions=("north_china", "northeast"),
    ),
    TeamSpec(
        "south",
        "华南销售部 South China Sales (Shenzhen)",
        ("manager.south@example.com", "黄文博 Huang Wenbo", "zh"),
        (
            ("rep.south1@example.com", "林佳怡 Lin Jiayi", "zh"),
            ("rep.south2@example.com", "梁超 Liang Chao", "zh"),
            ("rep.south3@example.com", "何勇 He Yong", "zh"),
        ),
        regions=("south_china",),
    ),
    TeamSpec(
        "west",
        "中西部销售部 Central & West Sales (Chengdu)",
        ("manager.west@example.com", "罗军 Luo Jun", "zh"),
        (
            ("rep.west1@example.com", "唐思远 Tang Siyuan", "zh"),
            ("rep.west2@example.com", "邓雨欣 Deng Yuxin", "zh"),
            ("rep.west3@example.com", "曹涛 Cao Tao", "zh"),
        ),
        regions=("central_china", "southwest", "northwest"),
    ),
    TeamSpec(
        "key",
        "大客户部 Key Accounts",
        ("manager.key@example.com", "Michael Chen 陈明", "en"),
        (
            ("rep.key1@example.com", "Emily Zhang 张子涵", "en"),
            ("rep.key2@example.com", "David Wang 王建华", "en"),
        ),
        regions=("overseas",),
    ),
)

OTHER_USERS = (
    # email, name, roles, locale
    ("admin@example.com", "系统管理员 Admin", ["admin"], "en"),
    ("director@example.com", "宋立华 Song Lihua (Sales Director)", ["sales_director"], "zh"),
    ("presales@example.com", "高明 Gao Ming (Pre-sales)", ["presales"], "zh"),
    ("presales2@example.com", "Sarah Liu 刘芳 (Pre-sales)", ["presales"], "en"),
    ("legal@example.com", "郑秀英 Zheng Xiuying (Legal)", ["legal"], "zh"),
    ("marketing@example.com", "谢晓燕 Xie Xiaoyan (Marketing)", ["marketing"], "zh"),
)

# --------------------------------------------------------------------------- vocabulary

# city zh, city en, region, province zh, landline area code, unified-credit region code
CITIES = (
    ("上海", "Shanghai", "east_china", "上海市", "021", "310115", 14),
    ("苏州", "Suzhou", "east_china", "江苏省", "0512", "320505", 8),
    ("无锡", "Wuxi", "east_china", "江苏省", "0510", "320214", 4),
    ("南京", "Nanjing", "east_china", "江苏省", "025", "320106", 6),
    ("合肥", "Hefei", "east_china", "安徽省", "0551", "340104", 4),
    ("杭州", "Hangzhou", "east_china", "浙江省", "0571", "330106", 8),
    ("宁波", "Ningbo", "east_china", "浙江省", "0574", "330203", 5),
    ("福州", "Fuzhou", "east_china", "福建省", "0591", "350102", 3),
    ("厦门", "Xiamen", "east_china", "福建省", "0592", "350203", 3),
    ("济南", "Jinan", "east_china", "山东省", "0531", "370102", 3),
    ("青岛", "Qingdao", "east_china", "山东省", "0532", "370202", 4),
    ("北京", "Beijing", "north_china", "北京市", "010", "110108", 10),
    ("天津", "Tianjin", "north_china", "天津市", "022", "120116", 5),
    ("石家庄", "Shijiazhuang", "north_china", "河北省", "0311", "130102", 2),
    ("沈阳", "Shenyang", "northeast", "辽宁省", "024", "210102", 3),
    ("大连", "Dalian", "northeast", "辽宁省", "0411", "210202", 3),
    ("长春", "Changchun", "northeast", "吉林省", "0431", "220102", 2),
    ("哈尔滨", "Harbin", "northeast", "黑龙江省", "0451", "230102", 2),
    ("深圳", "Shenzhen", "south_china", "广东省", "0755", "440305", 10),
    ("广州", "Guangzhou", "south_china", "广东省", "020", "440106", 8),
    ("东莞", "Dongguan", "south_china", "广东省", "0769", "441900", 5),
    ("佛山", "Foshan", "south_china", "广东省", "0757", "440604", 4),
    ("武汉", "Wuhan", "central_china", "湖北省", "027", "420106", 5),
    ("长沙", "Changsha", "central_china", "湖南省", "0731", "430104", 4),
    ("郑州", "Zhengzhou", "central_china", "河南省", "0371", "410105", 4),
    ("成都", "Chengdu", "southwest", "四川省", "028", "510107", 6),
    ("重庆", "Chongqing", "southwest", "重庆市", "023", "500112", 5),
    ("昆明", "Kunming", "southwest", "云南省", "0871", "530102", 2),
    ("西安", "Xi'an", "northwest", "陕西省", "029", "610113", 4),
    ("兰州", "Lanzhou", "northwest", "甘肃省", "0931", "620102", 1),
    ("乌鲁木齐", "Urumqi", "northwest", "新疆维吾尔自治区", "0991", "650102", 1),
)

DISTRICTS = ("高新技术产业开发区", "经济技术开发区", "工业园区", "科技园", "新区", "保税区")
ROADS = ("科技路", "创新大道", "工业北路", "长江路", "人民路", "金桥路", "东方路", "星湖街", "学府路", "海港大道")

STEMS = (
    ("华信", "Huaxin"), ("宏达", "Hongda"), ("恒通", "Hengtong"), ("鼎盛", "Dingsheng"),
    ("瑞丰", "Ruifeng"), ("金桥", "Jinqiao"), ("天成", "Tiancheng"), ("中科", "Zhongke"),
    ("博远", "Boyuan"), ("联创", "Lianchuang"), ("新元", "Xinyuan"), ("安泰", "Antai"),
    ("远航", "Yuanhang"), ("东方", "Dongfang"), ("海纳", "Haina"), ("思源", "Siyuan"),
    ("嘉和", "Jiahe"), ("卓越", "Zhuoyue"), ("永信", "Yongxin"), ("明辉", "Minghui"),
    ("正泰", "Zhengtai"), ("长城", "Changcheng"), ("星河", "Xinghe"), ("汇通", "Huitong"),
    ("晨光", "Chenguang"), ("蓝海", "Lanhai"), ("凯瑞", "Kairui"), ("盛世", "Shengshi"),
    ("华润", "Huarun"), ("同创", "Tongchuang"), ("万邦", "Wanbang"), ("启明", "Qiming"),
    ("银河", "Yinhe"), ("力拓", "Lituo"), ("信达", "Xinda"), ("宝丰", "Baofeng"),
    ("九州", "Jiuzhou"), ("德瑞", "Derui"), ("恒泰", "Hengtai"), ("智航", "Zhihang"),
)

# industry -> [(zh, en, short zh, short en)]
INDUSTRY_WORDS = {
    "manufacturing": (
        ("精密机械", "Precision Machinery", "精密", "Precision"),
        ("汽车零部件", "Auto Parts", "汽配", "Auto Parts"),
        ("电子科技", "Electronics Technology", "电子", "Electronics"),
        ("新材料", "New Materials", "新材", "Materials"),
        ("装备制造", "Equipment Manufacturing", "装备", "Equipment"),
        ("电气", "Electric", "电气", "Electric"),
        ("纺织", "Textile", "纺织", "Textile"),
        ("食品", "Foods", "食品", "Foods"),
    ),
    "retail": (
        ("商贸", "Trading", "商贸", "Trading"),
        ("连锁超市", "Supermarket Chain", "超市", "Supermarkets"),
        ("百货", "Department Store", "百货", "Department Store"),
    ),
    "finance": (
        ("融资租赁", "Financial Leasing", "租赁", "Leasing"),
        ("证券", "Securities", "证券", "Securities"),
        ("保险代理", "Insurance Agency", "保险", "Insurance"),
    ),
    "healthcare": (
        ("医药", "Pharmaceutical", "医药", "Pharma"),
        ("医疗器械", "Medical Devices", "医疗", "Medical"),
        ("生物科技", "Biotechnology", "生物", "Biotech"),
    ),
    "education": (
        ("教育科技", "Education Technology", "教育", "Education"),
        ("职业培训", "Vocational Training", "培训", "Training"),
    ),
    "it_internet": (
        ("信息技术", "Information Technology", "信息", "IT"),
        ("软件", "Software", "软件", "Software"),
        ("网络科技", "Network Technology", "网络", "Network"),
    ),
    "energy": (
        ("新能源", "New Energy", "新能源", "New Energy"),
        ("电力", "Power", "电力", "Power"),
        ("燃气", "Gas", "燃气", "Gas"),
    ),
    "logistics": (
        ("物流", "Logistics", "物流", "Logistics"),
        ("供应链管理", "Supply Chain Management", "供应链", "Supply Chain"),
        ("国际货运代理", "International Freight Forwarding", "货运", "Freight"),
    ),
    "government": (
        ("城市建设投资", "Urban Construction Investment", "城投", "Urban Investment"),
        ("水务", "Water", "水务", "Water"),
        ("智慧城市运营", "Smart City Operations", "智慧城市", "Smart City"),
    ),
    "other": (
        ("文化传媒", "Culture & Media", "传媒", "Media"),
        ("建筑工程", "Construction Engineering", "建工", "Construction"),
        ("农业科技", "Agricultural Technology", "农业", "Agritech"),
    ),
}
INDUSTRY_WEIGHTS = {
    "manufacturing": 34, "retail": 8, "finance": 5, "healthcare": 8, "education": 4,
    "it_internet": 9, "energy": 9, "logistics": 9, "government": 6, "other": 8,
}
SUFFIXES = (
    ("有限公司", "Co., Ltd.", 10),
    ("股份有限公司", "Co., Ltd.", 4),
    ("集团有限公司", "Group Co., Ltd.", 2),
    ("科技有限公司", "Technology Co., Ltd.", 4),
)

FOREIGN_PREFIXES = ("Atlas", "Meridian", "Northstar", "Rhein", "Nordic", "Pacific", "Andes",
                    "Danube", "Maple", "Sakura", "Kestrel", "Harbour", "Sterling", "Lumen")
FOREIGN_SECTORS = {
    "manufacturing": ("Precision", "Industrial Systems", "Components"),
    "retail": ("Retail", "Trading"),
    "logistics": ("Logistics", "Shipping"),
    "energy": ("Energy", "Renewables"),
    "healthcare": ("Health", "Medical"),
    "it_internet": ("Digital", "Software"),
}
# country, suffix, phone prefix, local number length, domain suffix
FOREIGN_COUNTRIES = (
    ("Germany", "GmbH", "+49 30 ", 8, "de"),
    ("Sweden", "AB", "+46 8 ", 8, "se"),
    ("Japan", "K.K.", "+81 3 ", 8, "jp"),
    ("Singapore", "Pte. Ltd.", "+65 6", 7, "sg"),
    ("United Kingdom", "Ltd.", "+44 20 7", 7, "co.uk"),
    ("United States", "Inc.", "+1 415 ", 7, "com"),
    ("Malaysia", "Sdn. Bhd.", "+60 3 ", 8, "com.my"),
)

SURNAMES = (
    ("王", "Wang"), ("李", "Li"), ("张", "Zhang"), ("刘", "Liu"), ("陈", "Chen"),
    ("杨", "Yang"), ("黄", "Huang"), ("赵", "Zhao"), ("吴", "Wu"), ("周", "Zhou"),
    ("徐", "Xu"), ("孙", "Sun"), ("马", "Ma"), ("朱", "Zhu"), ("胡", "Hu"),
    ("郭", "Guo"), ("何", "He"), ("林", "Lin"), ("罗", "Luo"), ("高", "Gao"),
    ("郑", "Zheng"), ("梁", "Liang"), ("谢", "Xie"), ("宋", "Song"), ("唐", "Tang"),
    ("韩", "Han"), ("冯", "Feng"), ("邓", "Deng"), ("曹", "Cao"), ("彭", "Peng"),
)
GIVEN = (
    ("伟", "Wei"), ("芳", "Fang"), ("娜", "Na"), ("敏", "Min"), ("静", "Jing"),
    ("丽", "Li"), ("强", "Qiang"), ("磊", "Lei"), ("军", "Jun"), ("洋", "Yang"),
    ("勇", "Yong"), ("艳", "Yan"), ("杰", "Jie"), ("娟", "Juan"), ("涛", "Tao"),
    ("明", "Ming"), ("超", "Chao"), ("秀英", "Xiuying"), ("华", "Hua"), ("建国", "Jianguo"),
    ("志强", "Zhiqiang"), ("晓东", "Xiaodong"), ("海燕", "Haiyan"), ("俊杰", "Junjie"),
    ("子涵", "Zihan"), ("雨欣", "Yuxin"), ("浩然", "Haoran"), ("思远", "Siyuan"),
    ("文博", "Wenbo"), ("佳怡", "Jiayi"), ("一鸣", "Yiming"), ("婷", "Ting"),
    ("晨", "Chen"), ("欣怡", "Xinyi"), ("宇航", "Yuhang"), ("梓轩", "Zixuan"),
)
WESTERN_FIRST = ("Anna", "Lukas", "Sophie", "James", "Emma", "Oliver", "Hanna", "Erik",
                 "Yuki", "Kenji", "Priya", "Daniel", "Laura", "Marco", "Nina", "Tom")
WESTERN_LAST = ("Schmidt", "Müller", "Johansson", "Tanaka", "Smith", "Brown", "Lee",
                "Nakamura", "Fischer", "Andersson", "Taylor", "Tan", "Rossi", "Wong")

# title zh, title en, decision role, weight
TITLES = (
    ("总经理", "General Manager", "decision_maker", 5),
    ("副总经理", "Deputy General Manager", "decision_maker", 4),
    ("财务总监", "CFO", "decision_maker", 3),
    ("IT 总监", "IT Director", "influencer", 6),
    ("信息中心主任", "Head of IT Centre", "influencer", 4),
    ("生产总监", "Production Director", "influencer", 5),
    ("数字化转型负责人", "Head of Digital Transformation", "champion", 4),
    ("采购经理", "Procurement Manager", "gatekeeper", 6),
    ("厂长", "Plant Manager", "influencer", 4),
    ("设备部经理", "Maintenance Manager", "end_user", 5),
    ("质量经理", "Quality Manager", "end_user", 4),
    ("工程师", "Engineer", "end_user", 6),
    ("总经理助理", "Assistant to the GM", "gatekeeper", 2),
)
DEPARTMENTS = ("总经办", "信息中心", "生产部", "采购部", "财务部", "设备部", "质量部", "工程部")

PRODUCT_LINES = ("automation", "mes", "cloud_data", "iot", "services", "support")
LINE_WEIGHTS = (22, 22, 16, 16, 12, 12)
LINE_MEDIAN = {  # typical deal size (CNY) for a medium-sized customer
    "automation": 420_000, "mes": 780_000, "cloud_data": 520_000,
    "iot": 260_000, "services": 160_000, "support": 110_000,
}
SIZE_FACTOR = {"micro": 0.35, "small": 0.65, "medium": 1.0, "large": 1.6, "enterprise": 2.6}
SIZES = ("micro", "small", "medium", "large", "enterprise")
SIZE_EMPLOYEES = {"micro": (8, 49), "small": (50, 199), "medium": (200, 999),
                  "large": (1000, 4999), "enterprise": (5000, 60000)}

# code, zh, en, line, unit, list price, cost ratio, lead time (weeks)
PRODUCTS = (
    ("AUT-PLC-200", "TR-PLC 200 可编程控制器", "TR-PLC 200 programmable controller", "automation", "unit", 12_800, 0.52, 2),
    ("AUT-SRV-750", "SV750 伺服驱动系统", "SV750 servo drive system", "automation", "set", 18_600, 0.55, 3),
    ("AUT-INV-110", "VF110 变频器", "VF110 frequency inverter", "automation", "unit", 6_900, 0.50, 2),
    ("AUT-HMI-10", "10 寸工业触摸屏 HMI", "10-inch HMI touch panel", "automation", "unit", 4_500, 0.46, 1),
    ("AUT-VIS-300", "VS300 机器视觉检测系统", "VS300 machine-vision inspection system", "automation", "set", 168_000, 0.48, 6),
    ("AUT-ROB-600", "六轴机器人工作站", "Six-axis robot workcell", "automation", "set", 680_000, 0.62, 10),
    ("AUT-AGV-500", "AGV 自动导引车 (500kg)", "AGV automated guided vehicle (500 kg)", "automation", "unit", 238_000, 0.58, 8),
    ("AUT-LINE-RT", "产线自动化改造包", "Production-line automation retrofit", "automation", "set", 1_250_000, 0.65, 16),
    ("MES-STD-LIC", "TrellisMES 标准版 (年许可)", "TrellisMES Standard (annual licence)", "mes", "license_year", 180_000, 0.15, 1),
    ("MES-PRO-LIC", "TrellisMES 专业版 (年许可)", "TrellisMES Professional (annual licence)", "mes", "license_year", 420_000, 0.15, 1),
    ("MES-QMS", "质量管理模块 QMS", "Quality management module (QMS)", "mes", "license_year", 120_000, 0.15, 1),
    ("MES-EAM", "设备管理模块 EAM", "Asset management module (EAM)", "mes", "license_year", 96_000, 0.15, 1),
    ("MES-WMS", "仓储管理模块 WMS", "Warehouse management module (WMS)", "mes", "license_year", 110_000, 0.15, 1),
    ("MES-APS", "高级计划排产 APS", "Advanced planning and scheduling (APS)", "mes", "license_year", 260_000, 0.18, 1),
    ("MES-EMS", "能源管理模块 EMS", "Energy management module (EMS)", "mes", "license_year", 88_000, 0.15, 1),
    ("CLD-DP", "数据中台平台", "Data middle-platform", "cloud_data", "license_year", 360_000, 0.25, 2),
    ("CLD-BI", "BI 报表与驾驶舱", "BI reporting and cockpit", "cloud_data", "license_year", 78_000, 0.20, 1),
    ("CLD-PRIV", "私有云部署套件", "Private cloud deployment kit", "cloud_data", "set", 450_000, 0.55, 6),
    ("CLD-DI", "数据集成平台", "Data integration platform", "cloud_data", "license_year", 150_000, 0.22, 1),
    ("CLD-AIQ", "AI 视觉质检模型", "AI visual quality-inspection model", "cloud_data", "license_year", 220_000, 0.30, 4),
    ("CLD-HOST", "云主机资源包", "Cloud hosting bundle", "cloud_data", "license_year", 36_000, 0.60, 1),
    ("CLD-GOV", "数据治理工具", "Data governance toolkit", "cloud_data", "license_year", 128_000, 0.22, 2),
    ("IOT-GW-4G", "EG400 边缘网关 (4G)", "EG400 edge gateway (4G)", "iot", "unit", 3_800, 0.45, 2),
    ("IOT-GW-5G", "EG500 5G 工业网关", "EG500 5G industrial gateway", "iot", "unit", 7_900, 0.50, 3),
    ("IOT-TH", "无线温湿度传感器", "Wireless temperature & humidity sensor", "iot", "unit", 380, 0.40, 1),
    ("IOT-VIB", "振动监测传感器", "Vibration monitoring sensor", "iot", "unit", 1_650, 0.42, 2),
    ("IOT-METER", "智能电表 (三相)", "Smart power meter (three-phase)", "iot", "unit", 1_200, 0.48, 2),
    ("IOT-RFID", "UHF RFID 读写器", "UHF RFID reader", "iot", "unit", 4_600, 0.47, 2),
    ("IOT-PAD", "三防工业平板", "Rugged industrial tablet", "iot", "unit", 6_200, 0.55, 2),
    ("SVC-IMPL", "实施服务", "Implementation services", "services", "person_day", 2_800, 0.45, 0),
    ("SVC-TRAIN", "现场培训", "On-site training", "services", "person_day", 3_200, 0.40, 0),
    ("SVC-DEV", "定制开发", "Custom development", "services", "person_day", 3_000, 0.50, 0),
    ("SVC-CONS", "数字化规划咨询", "Digital-transformation consulting", "services", "person_day", 6_000, 0.42, 0),
    ("SVC-PM", "项目管理服务", "Project management", "services", "person_day", 3_500, 0.48, 0),
    ("SVC-MIG", "数据迁移服务", "Data migration services", "services", "set", 58_000, 0.45, 3),
    ("SUP-STD", "标准维保 (年)", "Standard maintenance (annual)", "support", "license_year", 48_000, 0.35, 0),
    ("SUP-724", "7x24 高级维保 (年)", "7x24 premium support (annual)", "support", "license_year", 120_000, 0.38, 0),
    ("SUP-ONSITE", "驻场运维 (年)", "On-site operations (annual)", "support", "license_year", 360_000, 0.60, 0),
    ("SUP-SPARE", "备件包", "Spare-parts kit", "support", "set", 26_000, 0.55, 2),
    ("SUP-REMOTE", "远程技术支持包 (100 小时)", "Remote support pack (100 hours)", "support", "set", 30_000, 0.40, 0),
)

# Opportunity names by product line: (zh, en)
DEAL_WHAT = {
    "automation": (("产线自动化改造", "line automation retrofit"), ("机器人工作站", "robot workcell"),
                   ("视觉检测项目", "vision inspection"), ("PLC 升级", "PLC upgrade")),
    "mes": (("MES 一期", "MES phase 1"), ("MES 二期", "MES phase 2"),
            ("质量追溯系统", "quality traceability"), ("数字化工厂", "digital factory")),
    "cloud_data": (("数据中台建设", "data platform"), ("BI 驾驶舱", "BI cockpit"),
                   ("私有云迁移", "private cloud migration"), ("数据治理", "data governance")),
    "iot": (("设备联网", "machine connectivity"), ("能耗监测", "energy monitoring"),
            ("冷链温控监测", "cold-chain monitoring"), ("智慧仓储 RFID", "RFID smart warehouse")),
    "services": (("实施服务", "implementation services"), ("年度培训", "annual training"),
                 ("定制开发", "custom development"), ("数字化规划咨询", "digital roadmap consulting")),
    "support": (("年度维保续约", "maintenance renewal"), ("7x24 运维服务", "7x24 support"),
                ("驻场运维", "on-site operations")),
}
PAINS = (
    ("生产数据靠人工抄表，报表滞后 2–3 天", "Production data is collected by hand; reports lag 2–3 days"),
    ("质量问题无法追溯到批次和工序", "Quality issues cannot be traced to batch and process step"),
    ("设备停机频繁，缺少预测性维护", "Frequent machine downtime, no predictive maintenance"),
    ("多个系统数据孤岛，ERP 与车间脱节", "Data silos: ERP is disconnected from the shop floor"),
    ("人工成本上升，招工难", "Rising labour cost and hard to hire"),
    ("能耗高，双碳考核压力大", "High energy use under carbon-reduction targets"),
    ("客户审核要求全流程追溯", "Customers' audits require end-to-end traceability"),
    ("库存不准，呆滞料多", "Inaccurate inventory, too much slow-moving stock"),
    ("管理层看不到实时经营数据", "Management has no real-time view of operations"),
    ("老旧系统厂商已停止维护", "The legacy system is no longer supported by its vendor"),
)
NEXT_STEPS = (
    ("安排现场演示", "Arrange an on-site demo"),
    ("提交技术方案", "Submit the technical proposal"),
    ("约见 IT 总监", "Meet the IT director"),
    ("发送正式报价", "Send the formal quote"),
    ("等待客户内部评审", "Wait for the customer's internal review"),
    ("准备商务谈判", "Prepare the commercial negotiation"),
    ("提交合同草稿给法务", "Send the draft contract to legal"),
    ("组织标杆客户参观", "Organise a reference-site visit"),
)
COMPETITORS = ("西门子 Siemens", "罗克韦尔 Rockwell Automation", "施耐德电气 Schneider Electric",
               "鼎捷软件 Digiwin", "用友 Yonyou", "金蝶 Kingdee", "华为云 Huawei Cloud",
               "阿里云 Alibaba Cloud", "研华 Advantech", "SAP", "本地集成商 Local integrator")
LOSS_REASONS = (("price", 25), ("competitor", 22), ("missing_features", 10), ("no_budget", 12),
                ("timing", 10), ("no_decision_maker", 6), ("unresponsive", 8), ("poor_fit", 4),
                ("other", 3))
LOSS_DETAIL = (
    ("客户最终选择了价格更低的方案，我们的折扣空间不足。", "The customer chose a cheaper offer; we had no room left for discount."),
    ("客户预算被集团冻结，项目延期到明年。", "The group froze the budget; the project moved to next year."),
    ("未能接触到真正的决策人，信息传递失真。", "We never reached the real decision maker."),
    ("竞品在客户处已有成功案例，替换成本高。", "The competitor already had a working installation there."),
    ("客户需求与我们的产品定位不匹配。", "The customer's needs did not match our product."),
)
# Pseudo stages for the open pipeline (until a pipeline defines stage columns).
OPEN_STAGES = (  # key, probability, forecast category
    ("qualification", 10, "pipeline"),
    ("discovery", 25, "pipeline"),
    ("solutioning", 40, "pipeline"),
    ("quotation", 60, "best_case"),
    ("negotiation", 80, "commit"),
)

CHANNELS = (("website_form", 20), ("api", 5), ("qr_trade_show", 15), ("ad_landing_page", 12),
            ("wechat_official", 14), ("douyin", 7), ("referral", 10), ("manual", 11),
            ("spreadsheet_import", 6))
CAMPAIGNS = {
    "website_form": ("官网-申请试用", "官网-白皮书下载：数字化工厂建设指南", "Website – request a demo"),
    "api": ("合作伙伴 API 推送", "Partner API feed"),
    "qr_trade_show": ("中国国际工业博览会 CIIF {y}", "华南工业自动化展 SIAF {y}", "Hannover Messe {y}",
                      "智能制造峰会 {y}"),
    "ad_landing_page": ("百度搜索广告-MES", "百度搜索广告-设备联网", "LinkedIn Ads – Digital Factory"),
    "wechat_official": ("公众号文章：精益生产数字化", "公众号直播：MES 选型十问", "公众号-在线咨询"),
    "douyin": ("抖音短视频：机器人工作站", "抖音直播：智慧工厂探访"),
    "referral": ("老客户转介绍", "合作伙伴推荐", "Customer referral"),
    "manual": ("销售自拓", "Cold call"),
    "spreadsheet_import": ("展会名单导入 {y}", "行业协会名录导入"),
}
TIMINGS = ("within_1_month", "in_1_3_months", "in_3_6_months", "in_6_12_months",
           "over_12_months", "unknown")
NEEDS = (
    ("希望上线 MES，实现生产过程透明化", "Wants an MES for shop-floor transparency"),
    ("需要对 200 台设备联网采集数据", "Needs to connect about 200 machines"),
    ("计划建设数据中台，打通 ERP、MES、WMS", "Plans a data platform joining ERP, MES and WMS"),
    ("新工厂规划自动化产线", "Planning automated lines for a new plant"),
    ("质量追溯满足主机厂审核", "Traceability to pass OEM audits"),
    ("了解 AI 视觉质检方案", "Interested in AI visual inspection"),
    ("老系统到期，寻找替代方案", "Legacy system expiring, looking for a replacement"),
)

ACTIVITY_SUBJECTS = {
    "call": (("电话沟通需求", "Call to discuss requirements"), ("跟进报价反馈", "Follow-up call on the quote"),
             ("确认演示时间", "Call to confirm the demo date"), ("预算确认", "Budget check call"),
             ("电话回访", "Follow-up call")),
    "visit": (("拜访客户生产现场", "Site visit to the plant"), ("拜访 IT 部门", "Visit to the IT department"),
              ("高层拜访", "Executive visit"), ("客户工厂调研", "Plant survey")),
    "meeting": (("方案演示", "Solution demo"), ("技术交流会", "Technical workshop"),
                ("商务谈判", "Commercial negotiation"), ("需求调研会", "Requirements workshop"),
                ("项目启动会", "Project kick-off")),
    "note": (("客户组织架构梳理", "Notes on the customer's org chart"), ("竞争情报", "Competitive intelligence"),
             ("内部复盘", "Internal review notes")),
    "email": (("发送产品资料", "Sent the product brochure"), ("发送报价单", "Sent the quote"),
              ("发送会议纪要", "Sent the meeting minutes"), ("发送案例集", "Sent customer case studies")),
}
ACTIVITY_KINDS = (("call", 38), ("visit", 14), ("meeting", 16), ("note", 12), ("email", 20))
ACTIVITY_NOTES = (
    ("客户对设备联网方案比较认可，关注交付周期和售后响应。", "The customer likes the connectivity proposal; they care about delivery time and support."),
    ("IT 总监提出需要与现有 SAP 集成，需售前评估接口工作量。", "The IT director needs SAP integration; pre-sales to estimate the interface work."),
    ("客户反馈价格偏高，希望分期付款。", "The customer finds the price high and asks for instalments."),
    ("已确认预算在年度计划内，下月提交立项。", "Budget confirmed in the annual plan; project approval next month."),
    ("演示效果良好，客户要求参观标杆客户。", "Demo went well; the customer asked for a reference visit."),
    ("对方采购流程需三家比价。", "Their procurement needs three competing bids."),
    ("客户暂无明确时间表，三个月后再跟进。", "No clear timeline yet; follow up in three months."),
)
TASK_SUBJECTS = (("准备方案演示材料", "Prepare the demo deck"), ("提交报价审批", "Submit the quote for approval"),
                 ("安排技术交流", "Arrange a technical workshop"), ("发送合同草稿", "Send the draft contract"),
                 ("确认客户预算", "Confirm the customer's budget"), ("售前方案评审", "Pre-sales solution review"),
                 ("客户回访", "Customer follow-up call"), ("更新商机关键信息", "Update the opportunity's key facts"),
                 ("准备投标文件", "Prepare the tender documents"))

MOBILE_PREFIXES = ("130", "131", "132", "133", "135", "136", "137", "138", "139", "150", "151",
                   "152", "155", "156", "157", "158", "159", "176", "177", "180", "181", "182",
                   "183", "185", "186", "187", "188", "189", "199")

CREDIT_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"

# fmt: on
# --------------------------------------------------------------------------- helpers


def _pick(rng: random.Random, weighted: Sequence[tuple[Any, int]]) -> Any:
    return rng.choices([v for v, _ in weighted], weights=[w for _, w in weighted])[0]


def _money(value: float, step: int = 1000) -> Decimal:
    return Decimal(max(step, int(round(value / step)) * step))


def _chunks(rows: Sequence[Any], size: int = CHUNK) -> Iterator[Sequence[Any]]:
    for i in range(0, len(rows), size):
        yield rows[i : i + size]


def _dt(day: date, rng: random.Random, start_hour: int = 9, end_hour: int = 18) -> datetime:
    """A working-hours moment on ``day`` (China time), as an aware UTC datetime."""
    minutes = rng.randint(start_hour * 60, end_hour * 60 - 1)
    local = datetime(day.year, day.month, day.day) + timedelta(minutes=minutes)
    return (local - timedelta(hours=8)).replace(tzinfo=UTC)


def _record_id(created: Any) -> int:  # a record dict, or an id
    if isinstance(created, int):
        return created
    if isinstance(created, dict):
        return int(created["id"])
    return int(created.id)


@dataclass
class Plan:
    """One record to create: the values the repository sees, plus what SQL fixes after."""

    values: dict[str, Any]
    owner: int | None
    created: datetime
    updated: datetime | None = None
    fixups: dict[str, Any] = field(default_factory=dict)  # read-only fields, set by SQL
    id: int | None = None
    meta: dict[str, Any] = field(default_factory=dict)  # planning notes, never stored


# --------------------------------------------------------------------------- the loader


class _Demo:
    def __init__(self, db, repo, users, model, seed: int, scale: float, today: date):
        self.db, self.repo, self.users, self.model = db, repo, users, model
        self.rng = random.Random(seed)
        self.scale = scale
        self.today = today
        self.start = today - timedelta(days=365)
        self.logins: list[dict[str, Any]] = []
        self.user_ids: dict[str, int] = {}
        self.team_ids: dict[str, int] = {}
        self.team_members: dict[str, list[int]] = {}
        self.team_reps: dict[str, list[int]] = {}
        self.team_manager: dict[str, int] = {}
        self.presales: list[int] = []
        from runtime.store import SYSTEM

        self.system = SYSTEM
        self.used_names: set[str] = set()
        self.used_phones: set[str] = set()
        self.used_domains: set[str] = set()
        # Nothing is stamped later than this moment (today's plans are business hours).
        wall = datetime.now(UTC)
        self.latest = (
            wall
            if today >= wall.date()
            else datetime(today.year, today.month, today.day, 23, 59, tzinfo=UTC)
        )

    def count(self, entity: str) -> int:
        return max(1, int(round(BASE_COUNTS[entity] * self.scale)))

    # ----------------------------------------------------------------- people

    def mobile(self) -> str:
        while True:
            number = self.rng.choice(MOBILE_PREFIXES) + f"{self.rng.randint(0, 99_999_999):08d}"
            if number not in self.used_phones:
                self.used_phones.add(number)
                return f"+86 {number[:3]} {number[3:7]} {number[7:]}"

    def landline(self, prefix: str, lengths: tuple[int, ...]) -> str | None:
        """A number that phonenumbers accepts as valid (tries a few random ones)."""
        import phonenumbers

        for _ in range(30):
            length = self.rng.choice(lengths)
            local = str(self.rng.randint(2, 8)) + "".join(
                str(self.rng.randint(0, 9)) for _ in range(length - 1)
            )
            number = prefix + local
            try:
                if phonenumbers.is_valid_number(phonenumbers.parse(number)):
                    return number
            except phonenumbers.NumberParseException:
                pass
        return None

    def person(self, foreign: bool = False) -> tuple[str, str, str]:
        """(display name, pinyin/latin 'first.last' for e-mail, locale)."""
        if foreign:
            first, last = self.rng.choice(WESTERN_FIRST), self.rng.choice(WESTERN_LAST)
            mail = f"{first}.{last}".lower().replace("ü", "ue")
            return f"{first} {last}", mail, "en"
        (s_zh, s_en), (g_zh, g_en) = self.rng.choice(SURNAMES), self.rng.choice(GIVEN)
        return s_zh + g_zh, f"{g_en}.{s_en}".lower(), "zh"

    def create_org(self) -> None:
        users = self.users
        for email, name, roles, locale in OTHER_USERS[:2]:
            self._user(email, name, roles, None, locale)
        hq = users.create_team(
            "销售中心 Sales HQ", manager_id=self.user_ids["director@example.com"]
        )
        self.team_ids["hq"] = hq
        for spec in TEAMS:
            manager_email, manager_name, locale = spec.manager
            manager = self._user(manager_email, manager_name, ["sales_manager"], None, locale)
            team = users.create_team(spec.name, manager_id=manager, parent_id=hq)
            users.set_team(manager, team)  # the manager is a member of the team they run
            self.team_ids[spec.key] = team
            self.team_manager[spec.key] = manager
            reps = [self._user(e, n, ["sales_rep"], team, loc) for e, n, loc in spec.reps]
            self.team_reps[spec.key] = reps
            self.team_members[spec.key] = [manager, *reps]
            for login in self.logins[-len(reps) - 1 :]:
                login["team"] = spec.name
        for email, name, roles, locale in OTHER_USERS[2:]:
            uid = self._user(email, name, roles, None, locale)
            if "presales" in roles:
                self.presales.append(uid)

    def _user(self, email, name, roles, team_id, locale) -> int:
        # Hashing is slow by design (scrypt); every demo user has the same password, so
        # the service hashes it once and the others get a copy of that hash.
        first = not self.user_ids
        uid = self.users.create_user(
            email,
            name,
            DEMO_PASSWORD if first else None,
            roles=list(roles),
            team_id=team_id,
            locale=locale,
        )
        self._copy_password_hash(uid, first)
        self.user_ids[email] = uid
        self.logins.append(
            {
                "email": email,
                "password": DEMO_PASSWORD,
                "name": name,
                "roles": list(roles),
                "role": ", ".join(roles),  # one line per login in `trellis demo`
                "team": None,
                "id": uid,
            }
        )
        return uid

    def _copy_password_hash(self, uid: int, first: bool) -> None:
        from sqlalchemy import select, update

        users = self.db.sys.users
        with self.db.engine.begin() as conn:
            if first:
                self._password_hash = conn.execute(
                    select(users.c.password_hash).where(users.c.id == uid)
                ).scalar_one()
            else:
                conn.execute(
                    update(users).where(users.c.id == uid).values(password_hash=self._password_hash)
                )

    def team_for(self, city_zh: str, region: str, tier: str | None) -> str:
        if tier == "strategic" and self.rng.random() < 0.7:
            return "key"
        for spec in TEAMS:
            if city_zh in spec.cities or region in spec.regions:
                return spec.key
        return "key"

    def rep_for(self, team: str, industry: str | None = None) -> int:
        reps = self.team_reps[team]
        # The document's example: East China manufacturing goes to the senior rep in
        # Shanghai. The first rep of each team gets a larger share of manufacturing.
        if industry == "manufacturing" and self.rng.random() < 0.4:
            return reps[0]
        return self.rng.choice(reps)

    # ----------------------------------------------------------------- time

    def created_in_year(self) -> datetime:
        """A moment in the past 12 months, a little more often recently (a growing team)."""
        days_ago = int(364 * self.rng.random() ** 1.25)
        day = self.today - timedelta(days=days_ago)
        if day.weekday() >= 5 and self.rng.random() < 0.8:  # few records at weekends
            day -= timedelta(days=day.weekday() - 4)
        return _dt(day, self.rng)

    # ----------------------------------------------------------------- plans

    def plan_accounts(self) -> list[Plan]:
        rng, plans = self.rng, []
        city_weights = [(c, c[6]) for c in CITIES]
        for _ in range(self.count("account")):
            foreign = rng.random() < 0.05
            industry = _pick(rng, list(INDUSTRY_WEIGHTS.items()))
            size = _pick(rng, list(zip(SIZES, (14, 30, 32, 16, 8), strict=True)))
            tier = (
                "strategic"
                if size == "enterprise" and rng.random() < 0.7
                else (
                    "key" if size in ("large", "enterprise") or rng.random() < 0.15 else "standard"
                )
            )
            if foreign:
                values, city_zh, region = self._foreign_account(industry), "", "overseas"
            else:
                city = _pick(rng, city_weights)
                values, city_zh, region = self._chinese_account(industry, city), city[0], city[2]
            lo, hi = SIZE_EMPLOYEES[size]
            employees = rng.randint(lo, hi)
            values.update(
                industry=industry,
                region=region,
                company_size=size,
                tier=tier,
                employees=employees,
                customer_status="prospect",
                annual_revenue=_money(employees * rng.uniform(0.4, 2.5) * 1_000_000 / 10, 100_000),
            )
            if rng.random() < 0.25:
                values["tags"] = rng.sample(
                    [
                        "listed",
                        "state_owned",
                        "foreign_owned",
                        "high_tech",
                        "reference",
                        "key_project",
                    ],
                    rng.randint(1, 2),
                )
            team = self.team_for(city_zh, region, tier)
            plans.append(
                Plan(
                    values,
                    self.rep_for(team, industry),
                    self.created_in_year(),
                    meta={"team": team, "foreign": foreign, "city": city_zh},
                )
            )
        # a few group structures: subsidiaries of the larger accounts
        parents = [p for p in plans if p.values["company_size"] == "enterprise"]
        for p in plans:
            if parents and p.values["company_size"] in ("medium", "large") and rng.random() < 0.08:
                parent = rng.choice(parents)
                if parent is not p:
                    p.meta["parent"] = parent
        return plans

    def _unique(self, make) -> tuple[str, ...]:
        for _ in range(200):
            result = make()
            if result[0] not in self.used_names:
                self.used_names.add(result[0])
                return result
        raise RuntimeError("could not make a unique company name")

    def _chinese_account(self, industry: str, city: tuple) -> dict[str, Any]:
        rng = self.rng
        city_zh, city_en, region, province, area, credit_region, _w = city

        def make():
            stem_zh, stem_en = rng.choice(STEMS)
            word_zh, word_en, short_zh, short_en = rng.choice(INDUSTRY_WORDS[industry])
            suffix_zh, suffix_en, _ = _pick(rng, [(s, s[2]) for s in SUFFIXES])
            if word_zh.endswith("科技") and suffix_zh.startswith("科技"):
                suffix_zh, suffix_en = "有限公司", "Co., Ltd."
            name = f"{city_zh}{stem_zh}{word_zh}{suffix_zh}"
            name_en = f"{city_en} {stem_en} {word_en} {suffix_en}"
            return name, name_en, stem_zh + short_zh, f"{stem_en} {short_en}", stem_en, short_en

        name, name_en, short_zh, short_en, stem_en, word_en = self._unique(make)
        slug = (
            re.sub(r"[^a-z]", "", stem_en.lower())
            + "-"
            + re.sub(r"[^a-z]", "", word_en.split()[0].lower())
        )
        domain = f"{slug}.com.cn"
        if domain in self.used_domains:
            domain = f"{re.sub(r'[^a-z]', '', city_en.lower())}-{domain}"
        self.used_domains.add(domain)
        credit = "91" + credit_region + "".join(rng.choice(CREDIT_CHARS) for _ in range(10))
        place = province if province == f"{city_zh}市" else f"{province}{city_zh}市"
        return {
            "name": name,
            "name_en": name_en,
            "city": city_zh,
            "address": f"{place}{rng.choice(DISTRICTS)}{rng.choice(ROADS)}{rng.randint(1, 999)}号",
            "phone": self.landline(f"+86 {area[1:]} ", (8, 7)),
            "website": f"https://www.{domain}",
            "credit_code": credit,
            "_short": (short_zh, short_en),
            "_domain": domain,
        }

    def _foreign_account(self, industry: str) -> dict[str, Any]:
        rng = self.rng
        sector_industry = industry if industry in FOREIGN_SECTORS else "manufacturing"
        country, suffix, phone_prefix, digits, tld = rng.choice(FOREIGN_COUNTRIES)

        def make():
            prefix = rng.choice(FOREIGN_PREFIXES)
            sector = rng.choice(FOREIGN_SECTORS[sector_industry])
            name = f"{prefix} {sector} {suffix}"
            return name, prefix, sector

        name, prefix, sector = self._unique(make)
        domain = f"{prefix}-{sector.split()[0]}.{tld}".lower()
        return {
            "name": name,
            "name_en": name,
            "city": country,
            "address": f"{rng.randint(1, 200)} Harbour Road, {country}",
            "phone": self.landline(phone_prefix, (digits,)),
            "website": f"https://www.{domain}",
            "_short": (f"{prefix} {sector}", f"{prefix} {sector}"),
            "_domain": domain,
        }

    def plan_contacts(self, accounts: list[Plan]) -> list[Plan]:
        rng, plans = self.rng, []
        total = self.count("contact")
        # every account gets one contact; the rest go to larger accounts first
        per_account = [1] * len(accounts)
        weights = [SIZE_FACTOR[a.values["company_size"]] for a in accounts]
        for i in rng.choices(
            range(len(accounts)), weights=weights, k=max(0, total - len(accounts))
        ):
            per_account[i] += 1
        title_choices = [(t, t[3]) for t in TITLES]
        for account, n in zip(accounts, per_account, strict=True):
            account.meta["contacts"] = []
            foreign = account.meta["foreign"]
            for k in range(n):
                name, mail, _loc = self.person(foreign)
                title = _pick(rng, title_choices)
                if k == 0 and rng.random() < 0.7:
                    title = rng.choice(
                        [t for t in TITLES if t[2] in ("decision_maker", "champion")]
                    )
                values = {
                    "name": name,
                    "title": title[1] if foreign else title[0],
                    "department": None if foreign else rng.choice(DEPARTMENTS),
                    "decision_role": title[2],
                    "email": f"{mail}{rng.randint(1, 99) if rng.random() < 0.2 else ''}@{account.values['_domain']}",
                    "mobile": self.mobile() if not foreign else None,
                    "phone": account.values.get("phone") if rng.random() < 0.3 else None,
                    "wechat": f"wx_{mail.replace('.', '_')}{rng.randint(10, 999)}"
                    if not foreign and rng.random() < 0.6
                    else None,
                    "is_primary": k == 0,
                    "do_not_contact": rng.random() < 0.02,
                }
                created = account.created + timedelta(
                    days=rng.randint(0, 40), minutes=rng.randint(0, 600)
                )
                plan = Plan(
                    values, account.owner, min(created, self._now()), meta={"account": account}
                )
                account.meta["contacts"].append(plan)
                plans.append(plan)
        return plans

    def _now(self) -> datetime:
        return _dt(self.today, random.Random(0), 8, 9)

    def plan_opportunities(self, accounts: list[Plan]) -> list[Plan]:
        rng, plans = self.rng, []
        weights = [
            SIZE_FACTOR[a.values["company_size"]] + (1.0 if a.values["tier"] != "standard" else 0)
            for a in accounts
        ]
        for _ in range(self.count("opportunity")):
            account = rng.choices(accounts, weights=weights)[0]
            av = account.values
            created = self.created_in_year()
            line = rng.choices(PRODUCT_LINES, weights=LINE_WEIGHTS)[0]
            median = LINE_MEDIAN[line] * SIZE_FACTOR[av["company_size"]]
            amount = _money(
                median * math.exp(rng.gauss(0, 0.6)), 10_000 if median > 300_000 else 1000
            )
            # B2B cycles: two months for small deals, up to most of a year for big ones
            cycle = int(40 + 55 * math.log10(float(amount) / 10_000 + 1) * rng.uniform(0.7, 1.5))
            close = created.date() + timedelta(days=cycle)
            age = (self.today - created.date()).days
            chinese = not account.meta["foreign"] and rng.random() < 0.85
            what = rng.choice(DEAL_WHAT[line])
            short_zh, short_en = av["_short"]
            name = f"{short_zh} – {what[0]}" if chinese else f"{short_en} – {what[1]}"
            contacts = account.meta["contacts"]
            primary = next((c for c in contacts if c.values["is_primary"]), contacts[0])
            values: dict[str, Any] = {
                "name": name,
                "amount": amount,
                "opportunity_type": "renewal"
                if line == "support" and rng.random() < 0.7
                else ("upsell" if rng.random() < 0.15 else "new_business"),
                "source_channel": _pick(rng, CHANNELS),
                "region": av["region"],
                "industry": av["industry"],
                "product_line": line,
                "presales_engineer": rng.choice(self.presales) if rng.random() < 0.5 else None,
                "budget": _money(float(amount) * rng.uniform(0.8, 1.5), 10_000)
                if rng.random() < 0.6
                else None,
                "authority": rng.choice(["decision_maker", "influencer", "end_user", "unknown"]),
                "timing": rng.choice(TIMINGS[:4]),
                "need": rng.choice(NEEDS)[0 if chinese else 1],
                "competitor": rng.choice(COMPETITORS) if rng.random() < 0.45 else None,
            }
            pipeline = self.pipeline_for(values)
            meta = {
                "account": account,
                "primary": primary,
                "chinese": chinese,
                "line": line,
                "pipeline": pipeline,
            }
            fixups: dict[str, Any] = {}
            # Where is it now? Closed if its close date has passed (+ some slack).
            progress = age / max(cycle, 1)
            closed = progress >= 1.0 and rng.random() < 0.8 or progress > 0.4 and rng.random() < 0.1
            if closed:
                if values["opportunity_type"] == "renewal":
                    win_rate = 0.75
                else:
                    win_rate = 0.34 if av["tier"] != "standard" else 0.27
                won = rng.random() < win_rate
                closed_day = min(
                    self.today, created.date() + timedelta(days=int(cycle * rng.uniform(0.6, 1.15)))
                )
                close = closed_day
                values["closed_date"] = closed_day
                if won:
                    values.update(probability=100, forecast_category="closed")
                    meta["state"] = "won"
                else:
                    allowed = (
                        pipeline.loss_reasons
                        if pipeline is not None and pipeline.loss_reasons
                        else None
                    )
                    reason = _pick(
                        rng, [r for r in LOSS_REASONS if allowed is None or r[0] in allowed]
                    )
                    values.update(probability=0, forecast_category="omitted", loss_reason=reason)
                    if reason == "competitor" and not values["competitor"]:
                        values["competitor"] = rng.choice(COMPETITORS)
                    if reason == "other" or rng.random() < 0.4:
                        values["loss_detail"] = rng.choice(LOSS_DETAIL)[0 if chinese else 1]
                    meta["state"] = "lost"
                    meta["lost_stage"] = rng.choices(range(5), weights=(30, 25, 20, 15, 10))[0]
                updated = _dt(closed_day, rng)
            else:
                if progress >= 1.0:  # slipped deals sit late in the funnel
                    index = rng.choices(range(5), weights=(5, 10, 25, 30, 30))[0]
                else:  # a funnel: fewer deals reach the later stages
                    index = min(4, max(0, int(5 * progress**1.3 + rng.gauss(0, 0.5))))
                key, probability, category = OPEN_STAGES[index]
                values.update(probability=probability, forecast_category=category)
                meta["state"], meta["stage_index"] = key, index
                if close < self.today:  # slipped: pushed out again
                    close = self.today + timedelta(days=rng.randint(7, 75))
                if index >= 1:
                    values["key_pains"] = (
                        "；".join(p[0] for p in rng.sample(PAINS, 2))
                        if chinese
                        else "; ".join(p[1] for p in rng.sample(PAINS, 2))
                    )
                    values["next_step"] = rng.choice(NEXT_STEPS)[0 if chinese else 1]
                updated = min(self._now(), created + timedelta(days=rng.randint(0, max(age, 0))))
            if meta["state"] in ("won", "lost") or meta.get("stage_index", 0) >= 1:
                values.setdefault(
                    "key_pains",
                    "；".join(p[0] for p in rng.sample(PAINS, 2))
                    if chinese
                    else "; ".join(p[1] for p in rng.sample(PAINS, 2)),
                )
                dms = [
                    c.values
                    for c in contacts
                    if c.values["decision_role"] in ("decision_maker", "champion")
                ]
                if dms:
                    values["decision_makers"] = (
                        "、".join(f"{c['name']}（{c['title']}）" for c in dms[:3])
                        if chinese
                        else ", ".join(f"{c['name']} ({c['title']})" for c in dms[:3])
                    )
            values["close_date"] = close
            values["primary_contact"] = None  # linked after contacts exist
            plan = Plan(values, account.owner, created, updated, fixups, meta=meta)
            account.created = min(account.created, created - timedelta(days=rng.randint(1, 90)))
            plans.append(plan)
        return plans

    def pipeline_for(self, values: dict[str, Any]) -> Any:
        """The pipeline a deal moves through, or None while the app has none."""
        if self.model.entities["opportunity"].system_field("stage") is None:
            return None
        try:
            from runtime.features.pipelines.definition import pipeline_for_record
        except ImportError:
            return None
        return pipeline_for_record(self.model, "opportunity", values)

    def plan_stages(self, opportunities: list[Plan]) -> None:
        """Walk every deal through its pipeline: the stage it is in now, and the history.

        Open deals at funnel position i (0..4) sit in the matching open stage of their
        pipeline; won deals passed every open stage; lost ones dropped out where they
        were. Some went back a stage once (re-entries count in time-in-stage).
        Probability and forecast category follow the final stage.
        """
        rng = self.rng
        for opp in opportunities:
            pipeline = opp.meta.get("pipeline")
            if pipeline is None:
                continue
            opens = list(pipeline.open_stages)
            if not opens:
                continue
            span_open = len(opens) - 1  # funnel position 0..4 -> index of an open stage
            state = opp.meta["state"]
            if state == "won":
                path = opens + [pipeline.first_of_kind("won")]
            elif state == "lost":
                path = opens[: round(opp.meta["lost_stage"] * span_open / 4) + 1] + [
                    pipeline.first_of_kind("lost")
                ]
            else:
                path = opens[: round(opp.meta["stage_index"] * span_open / 4) + 1]
            path = [stage for stage in path if stage is not None]
            if len(path) >= 3 and rng.random() < 0.1:  # went back one stage, then on again
                k = rng.randrange(1, len(path) - 1)
                path = path[: k + 1] + [path[k - 1], path[k]] + path[k + 1 :]
            start = opp.created
            if state in ("won", "lost"):
                end = opp.updated  # the closing moment
            else:
                end = opp.updated if len(path) > 1 else start
            span = max(0.0, (end - start).total_seconds())
            if len(path) > 1:
                cuts = sorted(rng.uniform(0.05, 0.95) * span for _ in range(len(path) - 2))
                moments = [start] + [start + timedelta(seconds=c) for c in cuts] + [end]
            else:
                moments = [start]
            history = []
            for i, (stage, moment) in enumerate(zip(path, moments, strict=True)):
                previous = path[i - 1].id if i else None
                seconds = int((moment - moments[i - 1]).total_seconds()) if i else None
                history.append(
                    {
                        "from_stage": previous,
                        "to_stage": stage.id,
                        "changed_at": moment,
                        "seconds_in_from_stage": seconds,
                    }
                )
            final = path[-1]
            opp.meta["stage_history"] = history
            opp.fixups["stage"] = final.id
            opp.fixups["stage_entered_at"] = moments[-1]
            if final.probability is not None:
                opp.values["probability"] = Decimal(str(final.probability)).normalize()
            if final.forecast_category:
                opp.values["forecast_category"] = final.forecast_category
            opp.updated = max(opp.updated or start, moments[-1])

    def write_stage_history(self, opportunities: list[Plan]) -> None:
        """Replace the stage history of the demo deals by their planned walk."""
        from sqlalchemy import delete

        table = self.db.metadata.tables["sys_stage_history"]  # the pipelines feature's table
        rows = [
            {
                "entity": "opportunity",
                "record_id": opp.id,
                "changed_by": opp.owner,
                **row,
                "changed_at": min(row["changed_at"], self.latest),
            }
            for opp in opportunities
            for row in opp.meta.get("stage_history", ())
        ]
        if not rows:
            return
        ids = [opp.id for opp in opportunities]
        with self.db.engine.begin() as conn:
            for chunk in _chunks(ids, 500):
                conn.execute(
                    delete(table).where(
                        table.c.entity == "opportunity", table.c.record_id.in_(list(chunk))
                    )
                )
            for chunk in _chunks(rows, 2000):
                conn.execute(table.insert(), list(chunk))

    def align_contacts(self, opportunities: list[Plan], contacts: list[Plan]) -> None:
        """Contacts exist before the first deal at their account (accounts moved earlier)."""
        first: dict[int, datetime] = {}
        for opp in opportunities:
            key = id(opp.meta["account"])
            first[key] = min(first.get(key, opp.created), opp.created)
        for contact in contacts:
            account = contact.meta["account"]
            limit = first.get(id(account), self._now())
            span = max(0.0, (limit - account.created).total_seconds())
            contact.created = account.created + timedelta(seconds=span * self.rng.uniform(0, 0.9))

    def plan_products(self) -> list[Plan]:
        plans = []
        created = _dt(self.start - timedelta(days=120), self.rng)
        for i, (code, zh, en, line, unit, price, cost_ratio, weeks) in enumerate(PRODUCTS):
            values = {
                "code": code,
                "name": zh,
                "name_en": en,
                "product_line": line,
                "unit": unit,
                "list_price": Decimal(price),
                "standard_cost": _money(price * cost_ratio, 10 if price < 10_000 else 100),
                "lead_time_weeks": Decimal(weeks) if weeks else None,
                "is_active": not (i % 13 == 12),
                "datasheet_url": f"https://docs.example.com/products/{code.lower()}.pdf",
                "description": f"<p>{zh}</p><p>{en}.</p>",
            }
            plans.append(Plan(values, self.user_ids["admin@example.com"], created))
        return plans

    def plan_quotes(self, opportunities: list[Plan], products: list[Plan]) -> list[Plan]:
        rng, plans = self.rng, []
        by_line: dict[str, list[Plan]] = defaultdict(list)
        for p in products:
            if p.values["is_active"]:
                by_line[p.values["product_line"]].append(p)
        for opp in opportunities:
            state = opp.meta["state"]
            if state == "won":
                chance = 0.85
            elif state == "lost":
                chance = 0.35 if opp.meta["lost_stage"] >= 3 else 0.0
            else:
                chance = {3: 0.9, 4: 1.0}.get(opp.meta["stage_index"], 0.0)
            if rng.random() >= chance:
                continue
            line = opp.meta["line"]
            chosen = rng.sample(by_line[line], min(len(by_line[line]), rng.randint(1, 3)))
            if line not in ("services", "support"):
                chosen.append(rng.choice(by_line["services"]))
                if rng.random() < 0.5:
                    chosen.append(rng.choice(by_line["support"]))
            target = float(opp.values["amount"])
            weights = [rng.uniform(0.5, 1.5) for _ in chosen]
            lines, subtotal = [], Decimal(0)
            for product, weight in zip(chosen, weights, strict=True):
                price = product.values["list_price"]
                share = target * weight / sum(weights)
                quantity = max(1, int(round(share / float(price))))
                discount = Decimal(rng.choice((0, 0, 0, 5, 5, 8, 10, 12, 15)))
                total = (quantity * price * (100 - discount) / 100).quantize(
                    Decimal("0.01"), ROUND_HALF_UP
                )
                subtotal += total
                lines.append(
                    {
                        "product": product,
                        "quantity": quantity,
                        "unit_price": price,
                        "discount_percent": discount,
                        "description": product.values["name"]
                        if opp.meta["chinese"]
                        else product.values["name_en"],
                    }
                )
            discount = Decimal(rng.choice((0, 0, 3, 5, 8, 10, 12, 15, 20, 28)))
            total = (subtotal * (100 - discount) / 100).quantize(Decimal("0.01"), ROUND_HALF_UP)
            opp.values["amount"] = total  # the deal is worth what we quoted
            if opp.values.get("budget") is not None and opp.values["budget"] * 5 < total:
                opp.values["budget"] = _money(float(total), 10_000)
            quote_day = opp.created.date() + timedelta(
                days=int(
                    (opp.values["close_date"] - opp.created.date()).days * rng.uniform(0.5, 0.85)
                )
            )
            quote_day = min(quote_day, self.today)
            if state == "won":
                status = "accepted"
            elif state == "lost":
                status = rng.choice(["rejected", "expired"])
            elif opp.meta["stage_index"] == 4:
                status = rng.choice(["sent", "approved", "sent"])
            else:
                status = rng.choice(["draft", "in_approval", "approved"])
            chinese = opp.meta["chinese"]
            values = {
                "title": (
                    f"{opp.values['name']} 报价" if chinese else f"Quote – {opp.values['name']}"
                ),
                "status": status,
                "quote_date": quote_day,
                "valid_until": quote_day + timedelta(days=rng.choice((30, 30, 45, 60, 90))),
                "discount_percent": discount,
                "tax_rate": Decimal(13) if not opp.meta["account"].meta["foreign"] else Decimal(0),
                "payment_terms": rng.choice(
                    ["split_30_60_10", "net_30", "net_60", "prepaid", "split_30_60_10"]
                ),
                "delivery_terms": (
                    "合同签订后 8 周内交付，现场验收。"
                    if chinese
                    else "Delivery within 8 weeks of signing; on-site acceptance."
                ),
                "legal_reviewed": status in ("sent", "accepted")
                or (status == "approved" and rng.random() < 0.5),
                "legal_terms": (
                    "<p>本报价含 13% 增值税，质保期一年。</p>"
                    if chinese
                    else "<p>Prices exclude VAT. One-year warranty.</p>"
                ),
            }
            created = _dt(quote_day, rng)
            plans.append(
                Plan(
                    values,
                    opp.owner,
                    created,
                    created + timedelta(hours=rng.randint(1, 72)),
                    meta={"opportunity": opp, "lines": lines},
                )
            )
        return plans

    def plan_leads(self, opportunities: list[Plan]) -> list[Plan]:
        rng, plans = self.rng, []
        total = self.count("lead")
        # ~40% of opportunities came from a lead that was converted
        converted = [o for o in opportunities if rng.random() < 0.4][: max(0, total // 3)]
        for opp in converted:
            account = opp.meta["account"]
            contact = opp.meta["primary"]
            created = opp.created - timedelta(days=rng.randint(1, 25), hours=rng.randint(0, 8))
            values = self._lead_values(
                created,
                account.values["region"],
                account.values["industry"],
                opp.values["source_channel"],
                not account.meta["foreign"],
            )
            values.update(
                contact_name=contact.values["name"],
                company=account.values["name"],
                job_title=contact.values["title"],
                status="converted",
                phone=contact.values["mobile"] or self.mobile(),
                email=contact.values["email"],
                lead_score=rng.randint(55, 98),
            )
            team = account.meta["team"]
            plan = Plan(
                values, opp.owner, created, opp.created, meta={"opportunity": opp, "team": team}
            )
            plans.append(plan)
            opp.meta["lead"] = plan
        while len(plans) < total:
            created = self.created_in_year()
            city = rng.choice(CITIES)
            industry = _pick(rng, list(INDUSTRY_WEIGHTS.items()))
            channel = _pick(rng, CHANNELS)
            values = self._lead_values(created, city[2], industry, channel, True)
            name, mail, _ = self.person()
            stem_zh, stem_en = rng.choice(STEMS)
            word = rng.choice(INDUSTRY_WORDS[industry])
            age = (self.today - created.date()).days
            roll = rng.random()
            if age > 60:
                status = (
                    "disqualified" if roll < 0.45 else ("contacted" if roll < 0.75 else "qualified")
                )
            elif age > 14:
                status = (
                    "contacted" if roll < 0.5 else ("disqualified" if roll < 0.75 else "qualified")
                )
            else:
                status = "new" if roll < 0.6 else ("contacted" if roll < 0.9 else "disqualified")
            values.update(
                contact_name=name,
                company=f"{city[0]}{stem_zh}{word[0]}有限公司",
                job_title=rng.choice(TITLES)[0],
                phone=self.mobile(),
                email=f"{mail}@{re.sub(r'[^a-z]', '', stem_en.lower())}-{rng.randint(1, 99)}.cn"
                if rng.random() < 0.6
                else None,
                status=status,
            )
            if status == "disqualified":
                values["disqualify_reason"] = rng.choice(
                    [
                        "duplicate",
                        "invalid_contact",
                        "no_need",
                        "no_need",
                        "no_budget",
                        "competitor_or_partner",
                        "other",
                    ]
                )
            values["lead_score"] = self._score(values)
            team = self.team_for(city[0], city[2], None)
            updated = min(self._now(), created + timedelta(days=rng.randint(0, 10)))
            plans.append(
                Plan(values, self.rep_for(team, industry), created, updated, meta={"team": team})
            )
        rng.shuffle(plans)
        return plans

    def _lead_values(
        self, created: datetime, region: str, industry: str, channel: str, chinese: bool
    ) -> dict[str, Any]:
        rng = self.rng
        campaign = rng.choice(CAMPAIGNS[channel]).format(y=created.year)
        values: dict[str, Any] = {
            "source_channel": channel,
            "campaign": campaign,
            "region": region,
            "industry": industry,
            "company_size": _pick(rng, list(zip(SIZES, (20, 32, 28, 13, 7), strict=True))),
            "product_lines": rng.sample(PRODUCT_LINES, rng.choice((1, 1, 1, 2, 2, 3))),
            "wechat": f"wx{rng.randint(10_000_000, 99_999_999)}" if rng.random() < 0.4 else None,
            "marketing_consent": rng.random() < 0.55,
        }
        if rng.random() < 0.5:
            values["budget"] = _money(
                rng.choice((5, 10, 20, 30, 50, 80, 100, 200, 300)) * 10_000 * rng.uniform(0.8, 1.2),
                10_000,
            )
        if rng.random() < 0.6:
            values["authority"] = rng.choice(
                ["decision_maker", "influencer", "end_user", "gatekeeper", "champion", "unknown"]
            )
        if rng.random() < 0.6:
            values["need"] = rng.choice(NEEDS)[0 if chinese else 1]
        if rng.random() < 0.6:
            values["timing"] = rng.choice(TIMINGS)
        return values

    def _score(self, values: dict[str, Any]) -> int:
        score = 10
        score += 20 if values.get("budget") else 0
        score += {"decision_maker": 20, "champion": 15, "influencer": 10}.get(
            values.get("authority"), 0
        )
        score += 15 if values.get("need") else 0
        score += {"within_1_month": 20, "in_1_3_months": 15, "in_3_6_months": 8}.get(
            values.get("timing"), 0
        )
        score += {"referral": 10, "qr_trade_show": 5, "website_form": 5}.get(
            values["source_channel"], 0
        )
        score += self.rng.randint(-5, 5)
        if values.get("status") == "disqualified":
            score = min(score, 30)
        return max(0, min(100, score))

    def plan_activities(self, accounts, opportunities, leads) -> list[Plan]:
        rng, plans = self.rng, []
        total = self.count("activity")
        n_opp, n_lead = int(total * 0.72), int(total * 0.18)
        n_account = total - n_opp - n_lead
        kinds = list(ACTIVITY_KINDS)
        opp_weights = [
            1 + o.meta.get("stage_index", 3 if o.meta["state"] == "won" else 1)
            for o in opportunities
        ]
        for opp in rng.choices(opportunities, weights=opp_weights, k=n_opp):
            start = opp.created.date()
            end = opp.values.get("closed_date") or self.today
            day = start + timedelta(days=rng.randint(0, max(0, (end - start).days)))
            planned = False
            if opp.meta["state"] not in ("won", "lost") and rng.random() < 0.08:
                day, planned = self.today + timedelta(days=rng.randint(1, 21)), True
            chinese = opp.meta["chinese"]
            contact = rng.choice(opp.meta["account"].meta["contacts"])
            owner = opp.owner
            kind = _pick(rng, kinds)
            if (
                kind in ("meeting", "visit")
                and opp.values.get("presales_engineer")
                and rng.random() < 0.3
            ):
                owner = opp.values["presales_engineer"]
            plans.append(
                self._activity(
                    kind,
                    day,
                    planned,
                    chinese,
                    owner,
                    {"opportunity": opp, "account": opp.meta["account"], "contact": contact},
                )
            )
        open_leads = [
            lead
            for lead in leads
            if lead.values["status"] in ("contacted", "qualified", "converted")
        ]
        for lead in rng.choices(open_leads or leads, k=n_lead):
            start = lead.created.date()
            day = start + timedelta(days=rng.randint(0, min(30, max(0, (self.today - start).days))))
            kind = rng.choice(["call", "call", "email", "note"])
            plans.append(self._activity(kind, day, False, True, lead.owner, {"lead": lead}))
        for account in rng.choices(accounts, k=n_account):
            start = account.created.date()
            day = start + timedelta(days=rng.randint(0, max(0, (self.today - start).days)))
            chinese = not account.meta["foreign"]
            plans.append(
                self._activity(
                    _pick(rng, kinds),
                    day,
                    False,
                    chinese,
                    account.owner,
                    {"account": account, "contact": rng.choice(account.meta["contacts"])},
                )
            )
        return plans

    def _activity(self, kind, day, planned, chinese, owner, links) -> Plan:
        rng = self.rng
        lang = 0 if chinese else 1
        subject = rng.choice(ACTIVITY_SUBJECTS[kind])[lang]
        values: dict[str, Any] = {
            "kind": kind,
            "subject": subject,
            "activity_date": day,
            "completed": not planned,
            "description": rng.choice(ACTIVITY_NOTES)[lang]
            if kind != "email" or rng.random() < 0.5
            else None,
        }
        if kind in ("call", "visit", "meeting"):
            values["duration_minutes"] = {
                "call": rng.choice((5, 10, 15, 20, 30)),
                "visit": rng.choice((60, 90, 120, 180)),
                "meeting": rng.choice((45, 60, 90, 120)),
            }[kind]
        if not planned:
            values["outcome"] = _pick(
                rng,
                [
                    ("positive", 40),
                    ("neutral", 40),
                    ("negative", 8),
                    ("no_answer", 12 if kind == "call" else 0),
                ],
            )
            if rng.random() < 0.45:
                values["next_follow_up"] = day + timedelta(days=rng.choice((2, 3, 5, 7, 14, 30)))
        created = _dt(min(day, self.today), rng, 9, 20)
        return Plan(values, owner, created, created, meta={"links": links})

    def plan_tasks(self, opportunities: list[Plan]) -> list[Plan]:
        rng, plans = self.rng, []
        open_opps = [
            o for o in opportunities if o.meta["state"] not in ("won", "lost")
        ] or opportunities
        for _ in range(self.count("task")):
            opp = rng.choice(open_opps)
            due = self.today + timedelta(days=rng.randint(-25, 30))
            status = "open"
            if due < self.today:
                status = _pick(
                    rng, [("done", 70), ("open", 15), ("in_progress", 8), ("cancelled", 7)]
                )
            elif rng.random() < 0.25:
                status = "in_progress"
            assignee = opp.owner
            if opp.values.get("presales_engineer") and rng.random() < 0.3:
                assignee = opp.values["presales_engineer"]
            subject = rng.choice(TASK_SUBJECTS)[0 if opp.meta["chinese"] else 1]
            created_day = max(opp.created.date(), due - timedelta(days=rng.randint(3, 20)))
            created = _dt(min(created_day, self.today), rng)
            values = {
                "subject": subject,
                "due_date": due,
                "status": status,
                "priority": _pick(rng, [("low", 15), ("normal", 55), ("high", 22), ("urgent", 8)]),
                "assignee": assignee,
                "description": None,
                "reminder_at": _dt(due, rng, 9, 10) if rng.random() < 0.3 else None,
            }
            if status == "done":
                values["completed_at"] = _dt(min(due, self.today), rng)
            plans.append(Plan(values, opp.owner, created, created, meta={"opportunity": opp}))
        return plans

    # ----------------------------------------------------------------- writing

    def insert(self, entity: str, plans: list[Plan]) -> None:
        """Create through the repository (chunks), then fix owner, dates and read-only fields."""
        ent = self.model.entities[entity]
        # The system principal may write read-only fields and the owner, never what no one
        # writes (formulas, autonumbers: the type says so).
        writable = {f.id for f in ent.fields if not type_of(f).always_readonly}
        for chunk in _chunks(plans):
            rows = []
            for p in chunk:
                row = {k: v for k, v in p.values.items() if k in writable and v is not None}
                row["owner_id"] = p.owner
                rows.append(row)
            created = self.repo.bulk_create(self.system, entity, rows)
            for p, rec in zip(chunk, created, strict=True):
                p.id = _record_id(rec)
        self.fix(entity, plans)

    def fix(self, entity: str, plans: list[Plan]) -> None:
        from sqlalchemy import bindparam, update

        table = self.db.tables[entity]
        groups: dict[tuple[str, ...], list[dict[str, Any]]] = defaultdict(list)
        for p in plans:
            values = {
                "owner_id": p.owner,
                "created_by": p.owner,
                "created_at": p.created,
                "updated_at": p.updated or p.created,
            }
            values.update(p.fixups)
            for key in ("created_at", "updated_at", "stage_entered_at"):
                if isinstance(values.get(key), datetime):
                    values[key] = min(values[key], self.latest)
            values = {k: v for k, v in values.items() if k in table.c}
            groups[tuple(sorted(values))].append(
                {"_id": p.id, **{f"v_{k}": v for k, v in values.items()}}
            )
        with self.db.engine.begin() as conn:
            for keys, params in groups.items():
                stmt = (
                    update(table)
                    .where(table.c.id == bindparam("_id"))
                    .values({k: bindparam(f"v_{k}") for k in keys})
                )
                for chunk in _chunks(params, 2000):
                    conn.execute(stmt, list(chunk))

    def renumber(self, entity: str, field_id: str, plans: list[Plan]) -> None:
        """Give autonumbers the period of the (back-dated) creation time."""
        from sqlalchemy import bindparam, select, update

        ent = self.model.entities[entity]
        if not ent.has_field(field_id):
            return
        pattern = ent.field(field_id).pattern or ""
        if "{" not in pattern or field_id not in self.db.tables[entity].c:
            return
        table = self.db.tables[entity]
        with self.db.engine.begin() as conn:
            existing = {row[0] for row in conn.execute(select(table.c[field_id]))}
        counters: dict[str, int] = defaultdict(int)
        final = []
        for p in sorted(plans, key=lambda p: (p.created, p.id)):
            local = (p.created + timedelta(hours=8)).date()
            period = period_key(pattern, local)
            counters[period] += 1
            final.append({"_id": p.id, "v": format_autonumber(pattern, counters[period], local)})
        # Never clash with the live sequence: the current period's counter only shrinks.
        if any(f["v"] in existing for f in final):
            temp = [{"_id": f["_id"], "v": f"~{f['_id']}"} for f in final]
        else:
            temp = []
        stmt = (
            update(table).where(table.c.id == bindparam("_id")).values({field_id: bindparam("v")})
        )
        with self.db.engine.begin() as conn:
            for batch in (temp, final):
                for chunk in _chunks(batch, 2000):
                    if chunk:
                        conn.execute(stmt, list(chunk))

    # ----------------------------------------------------------------- run

    def run(self) -> dict[str, Any]:
        t0 = time.perf_counter()
        self.create_org()
        accounts = self.plan_accounts()
        contacts = self.plan_contacts(accounts)
        opportunities = self.plan_opportunities(accounts)
        self.align_contacts(opportunities, contacts)
        self.plan_stages(opportunities)
        products = self.plan_products()
        quotes = self.plan_quotes(opportunities, products)
        leads = self.plan_leads(opportunities)
        activities = self.plan_activities(accounts, opportunities, leads)
        tasks = self.plan_tasks(opportunities)

        # customer status follows the deals
        for opp in opportunities:
            account = opp.meta["account"]
            if opp.meta["state"] == "won":
                account.values["customer_status"] = "active"
        for account in accounts:
            if account.values["customer_status"] == "prospect":
                roll = self.rng.random()
                if roll < 0.06:
                    account.values["customer_status"] = "dormant"
                elif roll < 0.09:
                    account.values["customer_status"] = "former"
                elif roll < 0.12:
                    account.values["customer_status"] = "partner"

        self.insert("product", products)
        self.insert("account", accounts)
        parents = [(a, a.meta["parent"]) for a in accounts if "parent" in a.meta]
        for account, parent in parents:
            account.fixups["parent_account"] = parent.id
        for contact in contacts:
            contact.values["account"] = contact.meta["account"].id
        self.insert("contact", contacts)
        for opp in opportunities:
            opp.values["account"] = opp.meta["account"].id
            opp.values["primary_contact"] = opp.meta["primary"].id
        self.insert("opportunity", opportunities)
        self.insert("lead", leads)
        for lead in leads:
            opp = lead.meta.get("opportunity")
            if opp is not None:
                lead.fixups.update(
                    converted_account=opp.meta["account"].id,
                    converted_contact=opp.meta["primary"].id,
                    converted_opportunity=opp.id,
                    converted_at=opp.created,
                )
                opp.fixups["lead"] = lead.id
        for q in quotes:
            opp = q.meta["opportunity"]
            q.values.update(
                opportunity=opp.id, account=opp.meta["account"].id, contact=opp.meta["primary"].id
            )
            q.values["lines"] = [
                {
                    "product": line["product"].id,
                    "description": line["description"],
                    "quantity": line["quantity"],
                    "unit_price": line["unit_price"],
                    "discount_percent": line["discount_percent"],
                }
                for line in q.meta["lines"]
            ]
        self.insert("quote", quotes)
        for act in activities:
            for key, target in act.meta["links"].items():
                act.values[key] = target.id
        self.insert("activity", activities)
        for task in tasks:
            opp = task.meta["opportunity"]
            task.values.update(opportunity=opp.id, account=opp.meta["account"].id)
        self.insert("task", tasks)

        # second pass of SQL fixes that needed later ids
        self.fix("account", [a for a, _ in parents])
        self.fix("lead", [lead for lead in leads if "opportunity" in lead.meta])
        self.fix("opportunity", opportunities)
        self.write_stage_history(opportunities)
        from .stage_histories import add_stage_histories  # reopened deals, snapshots

        add_stage_histories(self, opportunities, activities)  # + idle-aware activity dates
        for entity, field_id, plans in (
            ("opportunity", "number", opportunities),
            ("lead", "number", leads),
            ("quote", "number", quotes),
        ):
            self.renumber(entity, field_id, plans)
        # The SQL fixes above set stages, amounts and dates behind the write path's back:
        # the account rollups (open pipeline, won amount, last activity) are recomputed.
        self.repo.rollups.rebuild()

        counts = {
            "account": len(accounts),
            "contact": len(contacts),
            "lead": len(leads),
            "opportunity": len(opportunities),
            "product": len(products),
            "quote": len(quotes),
            "quote_line": sum(len(q.meta["lines"]) for q in quotes),
            "activity": len(activities),
            "task": len(tasks),
        }
        return {
            "logins": self.logins,
            "users": dict(self.user_ids),
            "teams": {
                spec.key: {
                    "id": self.team_ids[spec.key],
                    "name": spec.name,
                    "manager": self.team_manager[spec.key],
                    "members": list(self.team_members[spec.key]),
                }
                for spec in TEAMS
            },
            "counts": counts,
            "seconds": round(time.perf_counter() - t0, 2),
        }


def load_demo(
    db, repo, users, model, *, seed: int = 42, scale: float = 1.0, today: date | None = None
) -> dict[str, Any]:
    """Fill an empty database with the demo organisation and a year of sales history.

    Returns ``{"logins": [...], "users": {email: id}, "teams": {...}, "counts": {...},
    "seconds": float}``. Every login's password is ``DEMO_PASSWORD``.
    """
    demo = _Demo(db, repo, users, model, seed, scale, today or date.today())
    return demo.run()


def format_logins(result: dict[str, Any]) -> str:
    """The demo logins as a small table for the CLI to print."""
    lines = [f"Demo users (password: {DEMO_PASSWORD})"]
    width = max(len(login["email"]) for login in result["logins"])
    for login in result["logins"]:
        team = f"  [{login['team']}]" if login.get("team") else ""
        lines.append(
            f"  {login['email']:<{width}}  {', '.join(login['roles']):<15} {login['name']}{team}"
        )
    return "\n".join(lines)
