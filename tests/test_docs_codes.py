"""Every definition problem code (the core's and every feature's) is documented, every
documented code exists, and no code is defined twice across the core and features."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from runtime.definition import codes
from runtime.features import Feature, load_features

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "check-codes.md"


def documented_codes() -> list[str]:
    return re.findall(r"^## (TRL-[EW]\d{3})\s*$", DOC.read_text(encoding="utf-8"), re.MULTILINE)


def every_code() -> dict[str, codes.Code]:
    return dict(codes.all_codes(load_features()))


def test_every_check_code_has_a_docs_heading():
    missing = sorted(set(every_code()) - set(documented_codes()))
    assert missing == [], f"add a '## CODE' heading to docs/check-codes.md for {missing}"


def test_every_docs_heading_is_a_check_code():
    unknown = sorted(set(documented_codes()) - set(every_code()))
    assert unknown == [], f"docs/check-codes.md documents codes that do not exist: {unknown}"


def test_codes_are_unique_and_well_formed():
    constants = [v for v in vars(codes).values() if isinstance(v, codes.Code)]
    assert len({c.code for c in constants}) == len(constants)
    everything = every_code().values()
    assert all(re.fullmatch(r"TRL-[EW]\d{3}", c.code) and c.title for c in everything)
    assert len(documented_codes()) == len(set(documented_codes()))


def test_the_features_contribute_their_own_codes():
    by_feature = {f.name: {c.code for c in f.check_codes()} for f in load_features()}
    assert {"TRL-E040", "TRL-E054", "TRL-E076", "TRL-E078"} <= by_feature["pipelines"]
    assert {"TRL-E060", "TRL-E061", "TRL-E062"} <= by_feature["follow_ups"]
    assert not (by_feature["pipelines"] | by_feature["follow_ups"]) & set(codes.ALL_CODES)


class _Borrower(Feature):
    name = "borrower"

    def __init__(self, code: codes.Code):
        self.code = code

    def check_codes(self):
        return (self.code,)


@pytest.mark.parametrize("taken", ["TRL-E013", "TRL-E040"])
def test_a_code_defined_twice_across_features_is_refused(taken):
    features = load_features([*load_features(), _Borrower(codes.Code(taken, "a copy"))])
    with pytest.raises(codes.DuplicateCode, match=taken):
        codes.all_codes(features)


def test_every_code_the_checker_uses_is_a_constant():
    folders = [Path(codes.__file__).parent, ROOT / "runtime" / "features"]
    sources = [p for folder in folders for p in folder.rglob("*.py")]
    own = {}
    for path in sources:
        text = path.read_text(encoding="utf-8")
        used = set(re.findall(r"(?<![\w.])codes\.([A-Z_]+)", text)) - {"ALL_CODES"}
        assert used <= set(vars(codes)), (path, used - set(vars(codes)))
        if "own_codes." in text:
            own[path] = set(re.findall(r"own_codes\.([A-Z_]+)", text))
    assert own  # the features' checks name their own codes...
    constants = {
        name
        for module in (
            "runtime.features.pipelines.codes",
            "runtime.features.follow_ups.codes",
            "runtime.features.reports.codes",
        )
        for name, value in vars(__import__(module, fromlist=["CODES"])).items()
        if isinstance(value, codes.Code)
    }
    for path, used in own.items():  # ...and every one of them is a constant
        assert used <= constants, (path, used - constants)
