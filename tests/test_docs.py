"""The user documentation in docs/ agrees with the code it describes."""

from pathlib import Path

from screening.config import RunConfig
from screening.config.reference import render_markdown

REPO = Path(__file__).resolve().parents[1]


def _keys(model, prefix=""):
    from screening.config.reference import _nested_model

    for name, field in model.model_fields.items():
        yield prefix + name
        nested = _nested_model(field.annotation)
        if nested is not None:
            inner = "[]." if "list" in str(field.annotation) else "."
            yield from _keys(nested, prefix + name + inner)


def test_config_reference_is_generated_from_the_models():
    committed = (REPO / "docs" / "config.md").read_text(encoding="utf-8")
    assert committed == render_markdown(), (
        "docs/config.md differs from the config models: run `python -m screening.config.reference docs/config.md`"
    )


def test_config_reference_lists_every_key_with_a_meaning():
    text = render_markdown()
    rows = {line.split("|")[1].strip(" `"): line for line in text.splitlines() if line.startswith("| `")}
    keys = list(_keys(RunConfig))
    assert set(keys) == set(rows)
    undescribed = [k for k in keys if not rows[k].split("|")[-2].strip()]
    assert undescribed == [], f"keys without a description: {undescribed}"
    assert "| `segmentation.soma_diameter_um` | number | `15.0` | µm |" in text
    assert "| `segmentation.min_soma_area_um2` | number | `60.0` | µm² |" in text
