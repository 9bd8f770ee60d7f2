import pytest

from screening.io.platemap import PlateMapError, read_plate_map
from screening.io.wells import normalize_well, well_row_col


def _write(tmp_path, text):
    path = tmp_path / "layout.csv"
    path.write_text(text)
    return path


HEADER = "well,patient,compound,concentration_um,role\n"


def test_well_names_and_role_synonyms(tmp_path):
    path = _write(tmp_path, HEADER + "A1,p1,DMSO,,negative_control\nb12,p1,X,1.5,Treatment\nC3,,,,empty\n")
    pmap = read_plate_map(path)
    assert pmap["well"].tolist() == ["A01", "B12", "C03"]
    assert pmap["role"].tolist() == ["vehicle", "treatment", "empty"]
    assert pmap["concentration_um"].tolist() == [0.0, 1.5, 0.0]


def test_every_error_names_file_line_and_column(tmp_path):
    path = _write(
        tmp_path,
        HEADER + "B5,p1,DMSO,0,vehicle\nB05,p1,X,1,treatment\nB6,p1,DMSO,0,vehicel\nB7,p1,X,ten,treatment\n",
    )
    with pytest.raises(PlateMapError) as info:
        read_plate_map(path)
    problems = info.value.problems
    assert len(problems) == 3
    assert f"{path}, line 3, column well: B05 is mapped twice (also line 2)" in problems[0]
    assert f"{path}, line 4, column role: unknown role 'vehicel'; did you mean vehicle?" in problems[1]
    assert f"{path}, line 5, column concentration_um: 'ten' is not a number" in problems[2]


def test_missing_column_and_bad_well(tmp_path):
    with pytest.raises(PlateMapError, match="missing column.*role"):
        read_plate_map(_write(tmp_path, "well,patient,compound,concentration_um\nA1,p,c,1\n"))
    with pytest.raises(PlateMapError, match="line 2, column well: 'Z'"):
        read_plate_map(_write(tmp_path, HEADER + "Z,p,c,1,treatment\n"))


def test_normalize_well_and_row_col():
    assert normalize_well(" a1 ") == "A01"
    assert normalize_well("AF48") == "AF48"
    assert well_row_col("B03") == (1, 2)
    assert well_row_col("P24") == (15, 23)
    with pytest.raises(ValueError):
        normalize_well("A0")
