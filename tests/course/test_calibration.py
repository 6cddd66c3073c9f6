"""Calibration records (grader/course/calibration.py): every shipped assignment keeps one, in the
validated form, and its rubric agrees with it."""

import pytest
import yaml

from grader.course import calibration, catalog
from grader.errors import SpecError

from conftest import shipped_ids

SHIPPED = shipped_ids()  # every assignment of the course, as the catalog finds them


@pytest.mark.parametrize("assignment_id", SHIPPED)
def test_each_shipped_assignment_keeps_a_record_of_its_default_dataset(assignment_id):
    assert {"colored_mnist", "channel_shift", "cnn_transfer", "cvae_ood"} <= set(SHIPPED)
    assignment = catalog.load(assignment_id)
    record = calibration.load(assignment).record(assignment.dataset())
    assert record is not None, f"no calibration record of {assignment.dataset()}"
    assert len({run.seed for run in record.runs if run.submission == "reference"}) >= 3, "too few reference seeds"


@pytest.mark.parametrize("assignment_id", SHIPPED)
def test_the_rubric_agrees_with_the_recorded_runs(assignment_id):
    assignment = catalog.load(assignment_id)
    assert calibration.disagreements(calibration.load(assignment), assignment) == []


def _raise_top_tier_past_the_reference(tiny_root, threshold):
    path = tiny_root / "rubrics" / "tiny.yaml"
    rubric = yaml.safe_load(path.read_text())
    item = next(i for i in rubric["items"] if i["id"] == "accuracy")
    item["tiers"][0]["threshold"] = threshold
    path.write_text(yaml.safe_dump(rubric))


def _write_tiny_record(tiny_root, runs, others=None):
    record = {"dataset": None, "measured": "by hand", "runs": runs}
    if others:
        record["others"] = others
    (tiny_root / "assignments" / "tiny" / "calibration.yaml").write_text(
        yaml.safe_dump({"assignment": "tiny", "records": [record]}))


def test_a_threshold_moved_past_the_evidence_is_caught(tiny_root):
    _write_tiny_record(tiny_root, [{"submission": "reference", "seed": 1, "values": {"accuracy": 0.9}},
                                   {"submission": "reference", "seed": 2, "values": {"accuracy": 0.88}},
                                   {"submission": "first_only", "seed": 1, "values": {"accuracy": 0.8}}])
    tiny = catalog.load("tiny", tiny_root)
    assert calibration.disagreements(calibration.load(tiny), tiny) == []
    _raise_top_tier_past_the_reference(tiny_root, 0.89)
    tiny = catalog.load("tiny", tiny_root)
    problems = calibration.disagreements(calibration.load(tiny), tiny)
    assert len(problems) == 1 and "reference seed 2: accuracy = 0.88 earns" in problems[0]


def test_another_submission_is_held_to_the_points_it_declares(tiny_root):
    _write_tiny_record(tiny_root, [{"submission": "reference", "seed": 1, "values": {"accuracy": 0.9}},
                                   {"submission": "constant", "seed": 1, "values": {"accuracy": 0.5}}],
                       others={"constant": {"description": "always the same answer", "expect_items": {"accuracy": 5}}})
    tiny = catalog.load("tiny", tiny_root)
    problems = calibration.disagreements(calibration.load(tiny), tiny)
    assert (len(problems) == 1
            and "constant seed 1: accuracy = 0.5 earns 0 points, the calibration expects 5" in problems[0])


@pytest.mark.parametrize("change, message", [
    (lambda r: r["runs"].append({"submission": "someone", "seed": 3, "values": {}}), "not the reference, a baseline"),
    (lambda r: r["runs"].append({"submission": "reference", "seed": 1, "values": {}}), "recorded twice"),
    (lambda r: r["runs"][0]["values"].update(no_such_item=1.0), "'no_such_item' is not a metric item"),
    (lambda r: r.update(dataset="imagenet"), "dataset 'imagenet'"),
    (lambda r: r.pop("measured"), "measured"),
    (lambda r: r.update(others={"constant": {"description": "always 0.5", "expect_items": {"answer_tests": 3}}}),
     "'constant' expects points of 'answer_tests', which is not a metric item"),
])
def test_a_malformed_record_is_a_one_line_error_naming_the_file(tiny_root, change, message):
    record = {"dataset": None, "measured": "by hand",
              "runs": [{"submission": "reference", "seed": 1, "values": {"accuracy": 0.9}}]}
    change(record)
    path = tiny_root / "assignments" / "tiny" / "calibration.yaml"
    path.write_text(yaml.safe_dump({"assignment": "tiny", "records": [record]}))
    with pytest.raises(SpecError) as caught:
        calibration.load(catalog.load("tiny", tiny_root))
    assert message in str(caught.value) and "calibration.yaml" in str(caught.value) and "\n" not in str(caught.value)


def test_a_written_record_reads_back_the_same(tmp_path):
    original = calibration.load(catalog.load("cnn_transfer"))
    calibration.write(original, tmp_path / "calibration.yaml")
    from grader.course.spec import load_model

    assert load_model(calibration.CalibrationFile, tmp_path / "calibration.yaml") == original
