import pytest

from grader.course import catalog
from grader.course.spec import Rubric, Tier, load_model
from grader.errors import GraderError, SpecError


def test_shipped_assignments_load():
    ids = catalog.list_ids()
    assert "colored_mnist" in ids
    for assignment_id in ids:
        a = catalog.load(assignment_id)
        assert a.rubric.max_score(a.dataset()) > 0


def test_bad_field_names_file_and_field(tiny_root):
    rubric = tiny_root / "rubrics" / "tiny.yaml"
    rubric.write_text(rubric.read_text().replace("points: 10", "points: -3", 1))
    with pytest.raises(SpecError) as err:
        catalog.load("tiny", tiny_root)
    message = str(err.value)
    assert str(rubric) in message and "items.0.metric.tiers" in message and "greater than or equal to 0" in message


def test_unknown_field_is_rejected(tiny_root):
    spec = tiny_root / "assignments" / "tiny" / "assignment.yaml"
    spec.write_text(spec.read_text() + "wall_time: 3\n")
    with pytest.raises(SpecError, match=r"assignment.yaml: unknown field 'wall_time'"):
        catalog.load("tiny", tiny_root)


@pytest.mark.parametrize("path,old,new,message", [
    ("rubrics/tiny.yaml", "    runner: hidden_tests/answer.py", "    runnr: hidden_tests/answer.py",
     "rubrics/tiny.yaml: items[1]: unknown field 'runnr' (did you mean 'runner'?)"),
    ("rubrics/tiny.yaml", "{op: \">=\", threshold: 0.85", "{op: \">=\", treshold: 0.85",
     "items[0].tiers[0]: unknown field 'treshold' (did you mean 'threshold'?)"),
    ("assignments/tiny/assignment.yaml", "  cpu_seconds: 20", "  cpu_second: 20",
     "assignment.yaml: limits: unknown field 'cpu_second' (did you mean 'cpu_seconds'?)"),
    ("assignments/tiny/assignment.yaml", "    expect_items:", "    expect_item:",
     "baselines[0]: unknown field 'expect_item' (did you mean 'expect_items'?)"),
])
def test_an_unknown_field_leads_the_error_with_the_closest_known_name(tiny_root, path, old, new, message):
    target = tiny_root / path
    assert old in target.read_text()
    target.write_text(target.read_text().replace(old, new, 1))
    with pytest.raises(SpecError) as err:
        catalog.load("tiny", tiny_root)
    text = str(err.value)
    assert message in text and "\n" not in text
    assert "Field required" not in text and "more" not in text  # the typo's own "missing" is not a second problem


def test_an_unknown_field_comes_before_other_problems(tiny_root):
    rubric = tiny_root / "rubrics" / "tiny.yaml"
    rubric.write_text(rubric.read_text().replace("cap: 20", "cap: -1\ncapp: 3"))
    with pytest.raises(SpecError) as err:
        catalog.load("tiny", tiny_root)
    assert ("unknown field 'capp' (did you mean 'cap'?) (and 1 more: field cap: Input should be greater than 0)"
            in str(err.value))


def test_an_unknown_field_of_a_calibration_record_is_named(tiny_root):
    from grader.course import calibration

    (tiny_root / "assignments" / "tiny" / "calibration.yaml").write_text(
        "assignment: tiny\nrecords:\n- dataset: null\n  measured: by hand\n  note: typo\n"
        "  runs: [{submission: reference, seed: 1, values: {accuracy: 0.9}}]\n")
    with pytest.raises(SpecError) as err:
        calibration.load(catalog.load("tiny", tiny_root))
    assert "records[0]: unknown field 'note' (did you mean 'notes'?)" in str(err.value)


def test_yaml_syntax_error_gives_line(tiny_root):
    spec = tiny_root / "assignments" / "tiny" / "assignment.yaml"
    spec.write_text("title: [unclosed\n")
    with pytest.raises(SpecError, match=r"not valid YAML at line \d"):
        catalog.load("tiny", tiny_root)


def test_missing_hidden_test_file(tiny_root):
    (tiny_root / "assignments" / "tiny" / "hidden_tests" / "answer.py").unlink()
    with pytest.raises(SpecError, match="runner file 'hidden_tests/answer.py' not found"):
        catalog.load("tiny", tiny_root)


def test_unknown_assignment_lists_known(tiny_root):
    with pytest.raises(GraderError, match=r"unknown assignment 'nope' \(known: tiny\)"):
        catalog.load("nope", tiny_root)


def test_tiers_per_dataset_must_cover_every_dataset(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text("""
assignment: x
items:
  - {id: a, title: A, kind: metric, log: l.txt, key: k, tiers: {mnist: [{threshold: 0.6, points: 1}]}}
""")
    rubric = load_model(Rubric, path)
    assert rubric.max_score("mnist") == 1
    with pytest.raises(SpecError, match="no tiers for dataset 'fashion_mnist'"):
        rubric.max_score("fashion_mnist")


@pytest.mark.parametrize("op,value,met", [(">=", 0.6, True), (">", 0.6, False), (">", 0.6000001, True),
                                          ("<=", 0.6, True), ("<", 0.6, False)])
def test_tier_comparisons(op, value, met):
    assert Tier(op=op, threshold=0.6, points=1).met_by(value) is met


def test_max_score_counts_best_of_group_skips_bonus_and_caps(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text("""
assignment: x
cap: 20
items:
  - {id: a, title: A, kind: metric, group: g1, log: l.txt, key: k, tiers: [{threshold: 0.6, points: 15}]}
  - {id: b, title: B, kind: file_present, group: g1, path: f, points: 5}
  - {id: c, title: C, kind: file_present, path: f, points: 3}
  - {id: d, title: D, kind: file_present, path: f, points: 9, bonus: true}
""")
    assert load_model(Rubric, path).max_score(None) == 18
    path.write_text(path.read_text().replace("points: 3}", "points: 8}"))
    assert load_model(Rubric, path).max_score(None) == 20


def test_duplicate_item_ids_rejected(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text("""
assignment: x
items:
  - {id: a, title: A, kind: file_present, path: f, points: 1}
  - {id: a, title: B, kind: file_present, path: g, points: 1}
""")
    with pytest.raises(SpecError, match="item id 'a' is used twice"):
        load_model(Rubric, path)
