"""grader.batch.executors: what a batch reports for a submission the pipeline could not report on."""

from grader.batch.executors import BatchContext, Job, failed_report
from grader.steps.lms import Identity, SubmissionOrigin


def test_a_failed_report_of_an_lms_named_submission_keeps_whose_it_is(tmp_path, tiny):
    """A Canvas upload whose worker died twice is that student's `crashed` row, never an unknown
    one (export would then list the student as missing)."""
    origin = SubmissionOrigin(file_name="leebob_34567_89012_model.py", submitted_at="2026-01-05T00:00:00+00:00")
    identity = Identity(tmp_path / "leebob_34567_89012_model.py", "20250042", "Bob Lee", origin)
    job = Job(identity.source, "leebob_34567_89012_model", "k", identity=identity)
    report = failed_report(job, BatchContext(tiny, None, tmp_path), "crashed", "the workers grading it died", "local")
    assert (report.student_id, report.name, report.status) == ("20250042", "Bob Lee", "crashed")
    assert report.origin == origin
    plain = failed_report(Job(tmp_path / "20250001_ana.zip", "20250001_ana", "k"), BatchContext(tiny, None, tmp_path),
                          "error", "x", "local")
    assert (plain.student_id, plain.name) == ("20250001", "ana")
