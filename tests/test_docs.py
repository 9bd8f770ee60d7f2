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


def _demo_numbers_module():
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_demo_numbers", REPO / "docs" / "make_demo_numbers.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_readme_demo_numbers_are_those_of_a_fresh_demo_run(demo_run):
    make = _demo_numbers_module()
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    block = readme[readme.index(make.START):readme.index(make.END) + len(make.END)]
    assert block == make.render(demo_run, REPO / "configs" / "example.yaml"), (
        "README.md's demo numbers are not what the current code gives: run `make docs`"
    )
    assert "| hits (pooled q < 0.1) |" in block and "SSMD" in block


def test_user_docs_do_not_point_at_files_users_do_not_have():
    for path in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]:
        assert "DESIGN.md" not in path.read_text(encoding="utf-8"), path
    for link in ("docs/config.md", "docs/plate-map.md", "docs/outputs.md", "docs/layouts.md", "docs/method.md"):
        assert (REPO / link).is_file() and f"({link})" in (REPO / "README.md").read_text(encoding="utf-8"), link
