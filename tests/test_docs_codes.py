"""Every definition problem code is documented, and every documented code exists."""

from __future__ import annotations

import re
from pathlib import Path

from runtime.definition import codes

DOC = Path(__file__).resolve().parent.parent / "docs" / "check-codes.md"


def documented_codes() -> list[str]:
    return re.findall(r"^## (TRL-[EW]\d{3})\s*$", DOC.read_text(encoding="utf-8"), re.MULTILINE)


def test_every_check_code_has_a_docs_heading():
    missing = sorted(set(codes.ALL_CODES) - set(documented_codes()))
    assert missing == [], f"add a '## CODE' heading to docs/check-codes.md for {missing}"


def test_every_docs_heading_is_a_check_code():
    unknown = sorted(set(documented_codes()) - set(codes.ALL_CODES))
    assert unknown == [], f"docs/check-codes.md documents codes that do not exist: {unknown}"


def test_codes_are_unique_and_well_formed():
    constants = [v for v in vars(codes).values() if isinstance(v, codes.Code)]
    assert len({c.code for c in constants}) == len(constants)
    assert all(re.fullmatch(r"TRL-[EW]\d{3}", c.code) and c.title for c in constants)
    assert len(documented_codes()) == len(set(documented_codes()))


def test_every_code_the_checker_uses_is_a_constant():
    source = "".join(
        p.read_text(encoding="utf-8") for p in (Path(codes.__file__).parent).glob("*.py")
    )
    used = set(re.findall(r"codes\.([A-Z_]+)", source)) - {"ALL_CODES"}
    assert used <= set(vars(codes)), used - set(vars(codes))
