"""The documentation pages that describe code stay in step with it."""
import re
from pathlib import Path

import facex_core

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_api_page_names_every_public_name_and_nothing_else():
    documented = set(re.findall(r"^\| `([A-Za-z_][A-Za-z0-9_]*)` \|", (DOCS / "api.md").read_text(), re.M))
    assert documented == set(facex_core.__all__), (sorted(set(facex_core.__all__) - documented),
                                                   sorted(documented - set(facex_core.__all__)))
