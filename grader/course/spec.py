"""Typed schemas for the YAML files that make an assignment: assignment.yaml and its rubric.

Assignments are data: everything the grader knows about one comes from these two files.
Validation errors name the file, the field and the problem on one line.
"""

from __future__ import annotations

import datetime as dt
import difflib
import operator
import re
import shlex
from pathlib import Path
from types import UnionType
from typing import Annotated, Literal, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from grader.errors import SpecError


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


IDLE_CAP_SECONDS = 300.0  # the default idle interval at most: no computing step goes 5 minutes without CPU


class SandboxLimits(Strict):
    """Every limit a sandboxed step gets, in one place. Defaults suit the shipped assignments
    on a 2-core machine; an assignment overrides any of them under `limits:`.

    Time is budgeted in CPU seconds, which a busy machine does not inflate: that limit decides
    a timeout. The wall clock only catches a step that is idle (its CPU time has not grown for
    the idle interval while none of its threads waits for a core or is held stopped: it sleeps
    or is blocked), and, as a hard ceiling, a step that would otherwise run for ever; a starved
    step, still gaining CPU or waiting for a core, runs on until its CPU budget. A step the
    ceiling stops is run once more before anything is scored."""

    cpu_seconds: int = Field(1800, gt=0, description="CPU time per step, all its processes and threads together: the "
                                                     "limit that decides a timeout.")
    wall_factor: float = Field(10.0, ge=1, description="Wall-clock backstop = wall_factor x cpu_seconds / cpus.")
    wall_seconds: float | None = Field(None, gt=0, description="A fixed wall-clock backstop "
                                                               "instead of the derived one.")
    idle_seconds: float | None = Field(None, gt=0, description="A step whose CPU time has not grown for this long "
                                                               "(none of its threads runnable) is stopped as idle; "
                                                               "default: the wall-clock backstop, at most 300 s.")
    ceiling_factor: float = Field(4.0, ge=1, description="Hard wall-clock ceiling = ceiling_factor x the backstop: a "
                                                         "step still computing is stopped there at the latest.")
    memory_mb: int = Field(6144, gt=0, description="Memory per step: cgroup limit in Docker, address space locally.")
    cpus: float = Field(2.0, gt=0, description="CPU cores a step may use (its quota).")
    threads: int | None = Field(None, gt=0, description="Threads of torch/BLAS in every step; default: the whole "
                                                        "cores of cpus as declared. Never the share a machine gives "
                                                        "a step: sums over threads round differently, so results "
                                                        "would follow how many submissions run at once.")
    pids: int = Field(256, gt=0, description="Processes and threads a step may hold (fork bombs stop here).")
    output_bytes: int = Field(2_000_000, gt=0, description="Bytes of stdout+stderr kept per step; the rest "
                                                           "is dropped with a note.")
    tmpfs_mb: int = Field(512, gt=0, description="Size of the writable /tmp inside a container.")
    workspace_mb: int = Field(1024, gt=0, description="Largest file a step may write, and the "
                                                      "workspace's total size after it.")
    workspace_files: int = Field(5000, gt=0, description="Files and folders the workspace may hold after a step.")
    submission_cpu_seconds: float | None = Field(None, gt=0, description="CPU time of all a submission's steps "
                                                 "together; default: cpu_seconds x (steps + 1) / 2.")
    submission_wall_seconds: float | None = Field(None, gt=0, description="Wall clock of all a submission's steps "
                                                  "together; default: the wall-clock backstop x (steps + 1) / "
                                                  "2, at least one step's ceiling.")

    def thread_count(self) -> int:
        """Threads of a step's numeric libraries: `threads`, else the whole declared cores, at least one."""
        return self.threads or max(1, int(self.cpus))

    def wall_backstop(self) -> float:
        """The wall-clock backstop (wall_seconds, or derived from the CPU budget and the cores a
        step has): the default idle interval, and the unit of the hard ceiling."""
        return self.wall_seconds or self.wall_factor * self.cpu_seconds / max(self.cpus, 1.0)

    def idle_interval(self) -> float:
        """Seconds without CPU growth (and no thread waiting for a core) after which a step is idle."""
        return self.idle_seconds or min(self.wall_backstop(), IDLE_CAP_SECONDS)

    def wall_ceiling(self) -> float:
        """Seconds of wall clock after which a step is stopped however it is doing."""
        return max(self.ceiling_factor * self.wall_backstop(), self.idle_interval())

    def submission_budget(self, steps: int) -> tuple[float, float]:
        """(CPU seconds, wall-clock seconds) all of a submission's `steps` may use together,
        unless set: one step its whole CPU limit and the others half of theirs on average; the
        wall-clock backstop as often, but at least one step's ceiling."""
        share = (max(steps, 1) + 1) / 2
        return (self.submission_cpu_seconds or self.cpu_seconds * share,
                self.submission_wall_seconds or max(self.wall_backstop() * share, self.wall_ceiling()))


class IntakeLimits(Strict):
    """What a submission archive may hold before it is rejected unopened (zip bombs, datasets)."""

    max_files: int = Field(200, gt=0)
    max_bytes: int = Field(20_000_000, gt=0, description="Total bytes after extraction.")
    forbidden: list[str] = Field(
        default_factory=lambda: ["*-ubyte", "*-ubyte.gz", "*.npz", "*.npy", "*.pt", "*.pth", "*.ckpt", "*.pkl"],
        description="fnmatch patterns (on the file name) of files that must not be submitted, e.g. datasets.",
    )


class SeedRule(Strict):
    """How the experiment seed comes from the student ID: the course uses the last 4 digits."""

    digits: int = Field(4, gt=0, le=9)


class DatasetChoice(Strict):
    description: str
    env: dict[str, str] = Field(default_factory=dict, description="Environment variables the experiments get.")
    holdout_dir: str | None = Field(None, description="Host folder of held-out evaluation data (images and "
                                                      "labels no student step sees); mounted read-only into "
                                                      "trusted steps only, as {holdout_dir}. Its absence is an "
                                                      "error of the grading machine.")


class DatasetSetting(Strict):
    default: str
    choices: dict[str, DatasetChoice]

    @model_validator(mode="after")
    def _default_is_a_choice(self) -> DatasetSetting:
        if self.default not in self.choices:
            raise ValueError(f"default dataset {self.default!r} is not one of {sorted(self.choices)}")
        return self


class Score(Strict):
    """One exported model of a trusted step that scores several (`scores`): the step's command
    gets `LOG=MODEL` for it in place of {scores} and writes its Summary into LOG."""

    name: str = Field(pattern=r"^[A-Za-z0-9_-]+$", description="How reports and calibration name this score.")
    model: str = Field(min_length=1, description="What the step is told to score (a path or prefix in its folder).")
    log: str = Field(pattern=r"^[A-Za-z0-9_.-]+$", description="File the step writes this model's output and "
                                                                "Summary into; rubric items read it.")
    inputs: list[str] = Field(min_length=1, description="Glob patterns of this model's data files, as a trusted "
                                                        "step's `inputs`; none found: this score is skipped.")
    needs: list[str] = Field(default_factory=list, description="Earlier experiments that export this model: when "
                                                               "one failed, this score is skipped with its reason.")


class Experiment(Strict):
    name: str
    command: str = Field(description="Shell-like command; {python}, {seed}, {dataset}, {data_dir} and "
                                     "{assets} are substituted.")
    log: str = Field(description="File (in the workspace) that receives the command's stdout and stderr.")
    partial: bool = Field(False, description="A run that stops early is still graded on the last Summary it "
                                             "printed (notebooks are graded on what they produced); the report "
                                             "says where it stopped.")
    artifacts: list[str] = Field(default_factory=list, description="Files the run writes (in the workspace) that the "
                                                                   "report keeps, e.g. the executed notebook.")
    trusted: bool = Field(False, description="Runs in a fresh copy of the pristine skeleton holding no student "
                                             "code, with only `inputs` (data files an earlier step wrote) copied "
                                             "in; it alone may use {secret_seed} and {holdout_dir}. Its log is "
                                             "the grader's evidence.")
    inputs: list[str] = Field(default_factory=list, description="Glob patterns (workspace-relative) of the data "
                                                                "files a trusted step reads from the student's "
                                                                "workspace; plain regular files only. None "
                                                                "found: the step is skipped.")
    needs: list[str] = Field(default_factory=list, description="Earlier experiments whose output this one reads: when "
                                                               "one of them failed, this one is skipped, not run and "
                                                               "charged a second failure.")
    scores: list[Score] = Field(default_factory=list, description=(
        "A trusted step that scores several exported models in one process (data built once): {scores} in its "
        "command becomes LOG=MODEL for each model whose inputs exist and whose needs succeeded; each writes "
        "its own log. The step itself declares no inputs or needs then."))

    @model_validator(mode="after")
    def _secrets_only_in_trusted_steps(self) -> Experiment:
        if not self.trusted:
            for secret in TRUSTED_PLACEHOLDERS:
                if secret in self.command:
                    raise ValueError(f"experiment {self.name!r}: {secret} may only be used by a trusted step")
            if self.inputs or self.scores:
                raise ValueError(f"experiment {self.name!r}: inputs and scores are for trusted steps")
        if self.scores:
            if self.inputs or self.needs:
                raise ValueError(f"experiment {self.name!r}: a step with scores declares inputs and needs per score")
            if SCORES_PLACEHOLDER not in shlex.split(self.command):
                raise ValueError(f"experiment {self.name!r}: a step with scores needs {SCORES_PLACEHOLDER} "
                                 "(a word of its own) in its command")
        elif SCORES_PLACEHOLDER in self.command:
            raise ValueError(f"experiment {self.name!r}: {SCORES_PLACEHOLDER} needs `scores`")
        return self

    def logs(self) -> list[str]:
        """The logs this step leaves: its own, and one per score."""
        return [self.log] + [score.log for score in self.scores]


SCORES_PLACEHOLDER = "{scores}"


TRUSTED_PLACEHOLDERS = ("{secret_seed}", "{holdout_dir}", "{trusted_assets}")


class Asset(Strict):
    """Something the grader builds once per dataset and reuses for every submission (a reference
    classifier, say): the command runs in the sandbox, in a copy of the handout, and what it
    writes is kept in a cache under the data folder, read-only to submissions as {assets}."""

    name: str = Field(pattern=r"^[A-Za-z0-9_-]+$")
    command: str = Field(description="Run in a copy of the handout; {python}, {dataset} and "
                                     "{data_dir} are substituted.")
    outputs: list[str] = Field(min_length=1, description="Files the command must write (relative names).")
    trusted: bool = Field(False, description=(
        "Built from the held-out data ({holdout_dir} may be used; never {secret_seed}, which is per student) "
        "and kept outside the data folder: trusted steps alone read it, as {trusted_assets}. For held-out data "
        "that is the same for every submission (fixed images to score on), built once instead of per step."))

    @model_validator(mode="after")
    def _no_secrets_in_assets(self) -> Asset:
        if "{secret_seed}" in self.command:
            raise ValueError(f"asset {self.name!r}: {{secret_seed}} is per student; an asset is built once")
        if "{holdout_dir}" in self.command and not self.trusted:
            raise ValueError(f"asset {self.name!r}: {{holdout_dir}} may only be used by a trusted asset")
        return self


class Edit(Strict):
    file: str
    old: str = Field(min_length=1, description="Text that must occur exactly once in the reference file.")
    new: str


class Baseline(Strict):
    """A known-wrong version of the editable files, with the points each item must get: either
    a folder of replacement files, or small edits to the reference solution."""

    name: str = Field(pattern=r"^[A-Za-z0-9_-]+$")
    description: str = ""
    path: str | None = Field(None, description="Folder, relative to the assignment folder, holding "
                                               "the replacement files.")
    edits: list[Edit] = Field(default_factory=list, description="Edits applied to the reference's editable files.")
    expect_items: dict[str, float] = Field(default_factory=dict, description=(
        "item id -> exact points, for every item the baseline loses points on; every item not named must earn its "
        "full points"))
    expect_score: float | None = Field(None, description="The total expected; 0: every item earns 0.")

    @model_validator(mode="after")
    def _one_source(self) -> Baseline:
        if (self.path is None) == (not self.edits):
            raise ValueError(f"baseline {self.name!r}: give either path or edits")
        return self

    def expected_points(self, rubric: Rubric, dataset: str | None) -> dict[str, float]:
        """Item id -> the exact points this baseline must earn, for every item of the rubric: the
        declared ones, every other item its full points (none at all when expect_score is 0)."""
        rest = (lambda item: 0.0) if self.expect_score == 0 else (lambda item: item.max_points(dataset))
        return {item.id: self.expect_items.get(item.id, rest(item)) for item in rubric.items}

    def declaration_problems(self, rubric: Rubric, dataset: str | None) -> list[str]:
        """What is wrong with the declaration itself: an item the rubric lacks, or one declared at its
        full points (only the items the baseline loses points on are declared)."""
        items = {item.id: item for item in rubric.items}
        problems = []
        for item_id, points in self.expect_items.items():
            if item_id not in items:
                problems.append(f"declares {item_id!r}, which is not an item of the rubric")
            elif points >= items[item_id].max_points(dataset) and self.expect_score != 0:
                problems.append(f"declares {item_id}: {points:g}, its full points (declare only the items it loses "
                                "points on)")
        return problems


class AssignmentSpec(Strict):
    title: str
    editable: list[str] = Field(min_length=1, description="Files a student may change; all others are restored.")
    required: list[str] = Field(default_factory=list, description="Files a submission must contain.")
    experiments: list[Experiment] = Field(default_factory=list)
    assets: list[Asset] = Field(default_factory=list, description="Built once per dataset, "
                                                                  "cached; {assets} in commands.")
    seed: SeedRule = SeedRule()
    dataset: DatasetSetting | None = None
    limits: SandboxLimits = SandboxLimits()
    intake: IntakeLimits = IntakeLimits()
    log_tolerance: float = Field(0.02, ge=0, description="Largest allowed gap between a submitted log's "
                                                         "metric and the re-run's.")
    peak_memory_mb: int | None = Field(None, gt=0, description="Measured peak resident memory of one step, for a "
                                                               "host's settings (the Gradescope bundle's "
                                                               "README); limits.memory_mb is an address-space "
                                                               "cap, far above it with torch.")
    validation_student_id: str = Field("20260001", pattern=r"^\d+$")
    baselines: list[Baseline] = Field(default_factory=list)
    requirements: list[str] = Field(default_factory=list, description=(
        "Packages this handout needs beyond the grading image's (name==version each): `grader build` writes "
        "requirements.txt from the image's list and these. The image must provide them too."))

    @field_validator("requirements")
    @classmethod
    def _pinned(cls, requirements: list[str]) -> list[str]:
        for r in requirements:
            if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*(\[[A-Za-z0-9,._-]+\])?==[A-Za-z0-9.+!_-]+", r):
                raise ValueError(f"{r!r} must be pinned as name==version")
        return requirements

    @model_validator(mode="after")
    def _needs_earlier_experiments(self) -> AssignmentSpec:
        seen: set[str] = set()
        logs: set[str] = set()
        for experiment in self.experiments:
            for who, needs in [(experiment.name, experiment.needs)] + [(s.name, s.needs) for s in experiment.scores]:
                unknown = [n for n in needs if n not in seen]
                if unknown:
                    raise ValueError(f"experiment {who!r} needs {unknown[0]!r}, which is not an earlier experiment")
            names = [experiment.name] + [s.name for s in experiment.scores]
            for name in names:
                if name in seen or names.count(name) > 1:
                    raise ValueError(f"experiment or score name {name!r} is used twice")
                seen.add(name)
            for log in experiment.logs():
                if log in logs:
                    raise ValueError(f"log {log!r} is written by two steps")
                logs.add(log)
        return self

    @field_validator("editable", "required")
    @classmethod
    def _relative_paths(cls, paths: list[str]) -> list[str]:
        for p in paths:
            if p.startswith("/") or ".." in Path(p).parts:
                raise ValueError(f"{p!r} must be a relative path inside the assignment")
        return paths


# ----------------------------------------------------------------------------- rubric

COMPARATORS = {">=": operator.ge, ">": operator.gt, "<=": operator.le, "<": operator.lt}


class Tier(Strict):
    op: Literal[">=", ">", "<=", "<"] = ">="
    threshold: float
    points: float = Field(ge=0)

    def met_by(self, value: float) -> bool:
        return COMPARATORS[self.op](value, self.threshold)

    def describe(self) -> str:
        return f"{self.op} {self.threshold:g}"


Visibility = Literal["visible", "after_due_date", "after_published", "hidden"]


class ItemBase(Strict):
    id: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    title: str
    bonus: bool = Field(False, description="Bonus points count toward the total but never lift it past the cap.")
    group: str | None = Field(None, description="Items in one group score the best of them, not their sum.")
    visibility: Visibility = Field("visible", description="When a student sees the item (Gradescope's vocabulary); "
                                                          "hidden items count but only the TA sees them.")


class HoldoutFloor(Strict):
    """The same model measured where the student could not have tuned for: held-out
    environments from a secret seed. Below the floor, the item scores 0 and is flagged."""

    key: str = Field(description="Summary key of the held-out value, e.g. Accuracy_holdout_min")
    threshold: float


class MetricItem(ItemBase):
    kind: Literal["metric"]
    log: str
    key: str
    tiers: list[Tier] | dict[str, list[Tier]] = Field(description="Tiers, or tiers per dataset.")
    holdout: HoldoutFloor | None = Field(None, description="Floor on held-out data; applies when "
                                                           "the Summary has its key.")
    leaderboard: bool | str = Field(False, description="Put the value on Gradescope's leaderboard "
                                                       "(true, or the column name).")
    leaderboard_order: Literal["asc", "desc"] = Field("desc", description="desc: higher is better.")

    def tiers_for(self, dataset: str | None) -> list[Tier]:
        if isinstance(self.tiers, list):
            return self.tiers
        if dataset not in self.tiers:
            raise SpecError(f"item {self.id!r} has no tiers for dataset {dataset!r} (has {sorted(self.tiers)})")
        return self.tiers[dataset]

    def max_points(self, dataset: str | None) -> float:
        return max((t.points for t in self.tiers_for(dataset)), default=0.0)

    def tier_met(self, value: float, dataset: str | None) -> Tier | None:
        """The best-paying tier the value meets (the held-out floor aside), or None."""
        return next((t for t in sorted(self.tiers_for(dataset), key=lambda t: t.points, reverse=True)
                     if t.met_by(value)), None)


class ParamCountItem(ItemBase):
    """A parameter count, never measured in a process that ran student code: either the
    Summary of a trusted step (which counted the exported weights that made the scored
    predictions: `log` + `key`), or a recorded probe output that the checker reads
    (`runner` + `case` + `output`)."""

    kind: Literal["param_count"]
    object: str = Field(description="What is counted, for messages, e.g. CNN()")
    log: str | None = Field(None, description="Log of a trusted step whose Summary holds the count")
    key: str | None = None
    runner: str | None = Field(None, description="Probe runner file (relative to the assignment folder)")
    case: str | None = None
    output: str | None = None
    trainable_only: bool = False
    exact: int | None = None
    min: int | None = None
    max: int | None = None
    points: float = Field(ge=0)

    @model_validator(mode="after")
    def _one_rule(self) -> ParamCountItem:
        if self.exact is None and self.min is None and self.max is None:
            raise ValueError("give exact, or min and/or max")
        from_log = self.log is not None and self.key is not None
        from_probe = None not in (self.runner, self.case, self.output)
        if from_log == from_probe:
            raise ValueError("give either log and key (a trusted step's Summary) or runner, case and output (a probe)")
        return self

    def max_points(self, dataset: str | None) -> float:
        return self.points


DTYPES = ("float32", "float64", "int32", "int64", "bool")
CASE_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"
TARGET = r"^[A-Za-z_][A-Za-z0-9_./-]*(\.ipynb)?:[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$"


class TensorInput(Strict):
    """An input tensor a declared case builds in the sandbox, the same for every submission:
    `tensor: shape` draws it from its own generator seeded with `seed` (never the global random
    state), `values:` gives it literally. torch when the sandbox has it, else numpy (`lib` chooses)."""

    tensor: list[int] | None = Field(None, description="Shape of a tensor drawn from `dist` with `seed`.")
    values: list | float | int | bool | None = Field(None, description="The tensor's values, literally.")
    seed: int = 0
    dtype: Literal[DTYPES] | None = Field(None, description="Default: float32 for a drawn tensor, the library's "
                                                            "default for values.")
    dist: Literal["normal", "uniform", "integers"] = "normal"
    low: float = 0.0
    high: float = 1.0
    requires_grad: bool = False
    lib: Literal["torch", "numpy"] | None = Field(None, description="Default: torch when importable, else numpy.")

    @model_validator(mode="after")
    def _shape_or_values(self) -> TensorInput:
        if (self.tensor is None) == (self.values is None):
            raise ValueError("give either tensor (a shape) or values")
        if self.tensor is not None and any(n < 0 for n in self.tensor):
            raise ValueError("a shape has no negative sizes")
        return self


def _check_literal(value, where: str, depth: int = 0):
    """A declared input: YAML scalars, lists, mappings, and tensors (a mapping with `tensor` or `values`)."""
    if depth > 20:
        raise ValueError(f"{where}: nested too deeply")
    if isinstance(value, dict):
        if "tensor" in value or "values" in value:
            return TensorInput.model_validate(value).model_dump(exclude_defaults=True)
        for key in value:
            if not isinstance(key, (str, int, float, bool)) or key is None:
                raise ValueError(f"{where}: mapping key {key!r} is not a plain value")
        return {k: _check_literal(v, f"{where}.{k}", depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_check_literal(v, f"{where}[{i}]", depth + 1) for i, v in enumerate(value)]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise ValueError(f"{where}: {type(value).__name__} is not a value a case can be given")


class CaseCall(Strict):
    """A method called on what the case's `call` returned (an object of a student class)."""

    method: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    args: list = Field(default_factory=list)
    kwargs: dict[str, object] = Field(default_factory=dict)
    output: str | None = Field(None, description="Record the return value under this name.")

    @field_validator("args", "kwargs")
    @classmethod
    def _literal_inputs(cls, value):
        return _check_literal(value, "inputs")


class DeclaredCase(Strict):
    """One hidden test written as data: call a student function or class on fixed inputs (then,
    optionally, methods of what it returned) and record the results. The grader compares them
    with the reference's, through the same generic runner (grader/inside/declarative.py)."""

    name: str = Field(pattern=CASE_NAME)
    call: str = Field(pattern=TARGET, description="module:attribute of an editable file, e.g. model:Net or "
                                                  "model:Net.forward; nb.ipynb:f for a notebook's functions cells.")
    args: list = Field(default_factory=list)
    kwargs: dict[str, object] = Field(default_factory=dict)
    then: list[CaseCall] = Field(default_factory=list, description="Methods called in turn on what `call` returned.")
    output: str | None = Field(None, description="Name of call's return value among the outputs (default: result, "
                                                 "when nothing else is recorded).")
    record: list[str] = Field(default_factory=list, description="Attributes of what `call` returned, recorded after "
                                                                "the calls (e.g. state a class keeps).")
    weight: float | None = Field(None, ge=0)
    rtol: float | None = Field(None, ge=0)
    atol: float | None = Field(None, ge=0)
    hint: str | None = Field(None, description="Shown to the student when the case fails.")

    @field_validator("args", "kwargs")
    @classmethod
    def _literal_inputs(cls, value):
        return _check_literal(value, "inputs")

    @model_validator(mode="after")
    def _records_something(self) -> DeclaredCase:
        names = [n for n in [self.output, *(c.output for c in self.then), *self.record] if n]
        if len(names) != len(set(names)):
            raise ValueError(f"case {self.name!r}: an output name is used twice")
        return self

    @property
    def module_file(self) -> str:
        module = self.call.split(":", 1)[0]
        return module if module.endswith(".ipynb") else module.replace(".", "/") + ".py"

    def runner_data(self) -> dict:
        """What the sandbox's runner needs: no weight, tolerance or hint (those are the checker's)."""
        data = self.model_dump(include={"name", "call", "args", "kwargs", "output", "record"})
        data["then"] = [c.model_dump() for c in self.then]
        return data


class TestsItem(ItemBase):
    """Hidden tests as runner/checker pairs: `runner` calls student code in the sandbox and
    records outputs; the grader compares them with the reference solution's outputs through
    the same runner (and `checker`'s functions where plain equality is not the test). `cases`
    declares plain call-and-compare tests as data, run by a generic runner, beside or instead
    of a runner file."""

    kind: Literal["tests"]
    runner: str | None = Field(None, description="Runner file with @case functions, relative to the assignment folder.")
    cases: list[DeclaredCase] = Field(default_factory=list, description="Declared cases (no runner code needed).")
    checker: str | None = Field(None, description="Checker module (check_<case>(got, expected), HINTS), "
                                                  "relative to the assignment folder; default: every output "
                                                  "equals the reference's.")
    rtol: float = Field(1e-4, ge=0)
    atol: float = Field(1e-5, ge=0)
    points: float = Field(ge=0)
    weights: dict[str, float] = Field(default_factory=dict, description="case name -> weight (default 1 each)")

    @model_validator(mode="after")
    def _runner_or_cases(self) -> TestsItem:
        if self.runner is None and not self.cases:
            raise ValueError(f"item {self.id!r}: give a runner file, cases, or both")
        names = [c.name for c in self.cases]
        if len(names) != len(set(names)):
            raise ValueError(f"item {self.id!r}: a case name is used twice")
        twice = [c.name for c in self.cases if c.weight is not None and c.name in self.weights]
        if twice:
            raise ValueError(f"item {self.id!r}: case {twice[0]!r} has a weight in both weights and cases")
        return self

    @property
    def stem(self) -> str:
        """The prefix of this item's recorded case keys: the runner file's stem, else the item id."""
        return Path(self.runner).stem if self.runner else self.id

    def _declared(self, name: str) -> DeclaredCase | None:
        return next((c for c in self.cases if c.name == name), None)

    def case_weight(self, name: str) -> float:
        declared = self._declared(name)
        if declared is not None and declared.weight is not None:
            return declared.weight
        return self.weights.get(name, 1.0)

    def case_tolerance(self, name: str) -> tuple[float, float]:
        declared = self._declared(name)
        rtol = declared.rtol if declared is not None and declared.rtol is not None else self.rtol
        atol = declared.atol if declared is not None and declared.atol is not None else self.atol
        return rtol, atol

    def case_hint(self, name: str) -> str | None:
        declared = self._declared(name)
        return declared.hint if declared is not None else None

    def max_points(self, dataset: str | None) -> float:
        return self.points


class FilePresentItem(ItemBase):
    kind: Literal["file_present"]
    path: str
    points: float = Field(ge=0)

    def max_points(self, dataset: str | None) -> float:
        return self.points


RubricItem = Annotated[MetricItem | ParamCountItem | TestsItem | FilePresentItem, Field(discriminator="kind")]


class LatePolicy(Strict):
    """Lateness costs penalty_per_unit percent of the full marks per day (or hour) started after
    the due date and its grace period, up to max_penalty_percent; never below zero points."""

    due: dt.datetime = Field(description="Due date and time with a time zone, e.g. 2026-11-20T23:59:00+01:00.")
    grace_minutes: float = Field(0, ge=0)
    unit: Literal["day", "hour"] = "day"
    penalty_per_unit: float = Field(10, ge=0, le=100, description="Percent of the full marks per unit late.")
    max_penalty_percent: float = Field(100, ge=0, le=100, description="Cap on the total penalty, in percent.")

    @field_validator("due")
    @classmethod
    def _has_time_zone(cls, due: dt.datetime) -> dt.datetime:
        if due.tzinfo is None:
            raise ValueError("give the due date a time zone (e.g. +01:00 or Z)")
        return due


class Rubric(Strict):
    assignment: str
    cap: float | None = Field(None, gt=0, description="Most points a submission can get, bonus included.")
    late: LatePolicy | None = Field(None, description="Late policy; without it lateness is recorded, not charged.")
    items: list[RubricItem] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_ids(self) -> Rubric:
        seen: set[str] = set()
        for item in self.items:
            if item.id in seen:
                raise ValueError(f"item id {item.id!r} is used twice")
            seen.add(item.id)
        return self

    def max_score(self, dataset: str | None) -> float:
        """Full marks: the best of each group, regular items only, under the cap."""
        best: dict[str, float] = {}
        for item in self.items:
            if item.bonus:
                continue
            key = item.group or f"item:{item.id}"
            best[key] = max(best.get(key, 0.0), item.max_points(dataset))
        total = sum(best.values())
        return min(total, self.cap) if self.cap is not None else total


# ----------------------------------------------------------------------------- loading

def _unwrap(tp):
    while get_origin(tp) is Annotated:
        tp = get_args(tp)[0]
    return tp


def _type_name(tp) -> str:
    """A type as pydantic names a union's member in an error's location: list[Tier], dict[str,list[Tier]]."""
    args = get_args(tp)
    if get_origin(tp) in (list, dict) and args:
        return f"{get_origin(tp).__name__}[{','.join(_type_name(a) for a in args)}]"
    return getattr(tp, "__name__", str(tp))


def _step(tp, part) -> tuple[object, bool]:
    """The type one step of an error's location leads to inside `tp`, and whether the step names
    a place a reader sees (not a union's member); (None, True) when it cannot be followed."""
    tp = _unwrap(tp)
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        field = tp.model_fields.get(part) if isinstance(part, str) else None
        return (field.annotation, True) if field else (None, True)
    origin, args = get_origin(tp), get_args(tp)
    if origin is list and isinstance(part, int):
        return args[0], True
    if origin is dict and isinstance(part, str):
        return args[1], True
    if origin in (Union, UnionType):
        members = [_unwrap(m) for m in args if m is not type(None)]
        for member in members:  # a tagged member (kind: tests) or pydantic's name of the member
            kind = getattr(member, "model_fields", {}).get("kind")
            if (kind and part in get_args(kind.annotation)) or part == _type_name(member):
                return member, False
        for member in members:  # Optional[X]: the location goes on inside X
            found, shown = _step(member, part)
            if found is not None:
                return found, shown
    return None, True


def _place(model: type[BaseModel], loc: tuple) -> tuple[str, type[BaseModel] | None, list[int]]:
    """Where `loc` points, as a reader writes it (items[2].tiers), the model class it points into,
    and the positions in `loc` that pick a union's member (not shown)."""
    where, tp, members = "", model, []
    for k, part in enumerate(loc):
        if str(part).startswith("function-after"):
            continue
        tp, shown = _step(tp, part) if tp is not None else (None, True)
        if shown:
            where += f"[{part}]" if isinstance(part, int) else f".{part}"
        else:
            members.append(k)
    tp = _unwrap(tp)
    return where.lstrip("."), tp if isinstance(tp, type) and issubclass(tp, BaseModel) else None, members


def _format_validation_error(err: ValidationError, model: type[BaseModel] | None = None) -> str:
    """One line: unknown fields first, each with the closest known name, then the first other problem
    (not the typo's own 'Field required', nor why the data fits no other member of a union)."""
    errors = err.errors()
    unknown = [e for e in errors if e["type"] == "extra_forbidden"] if model is not None else []
    if not unknown:
        more = f" (and {err.error_count() - 1} more)" if err.error_count() > 1 else ""
        return f"{_describe(errors[0])}{more}"
    lines, explained, chosen = [], set(), set()
    for e in unknown:
        parent, cls, members = _place(model, e["loc"][:-1])
        name = str(e["loc"][-1])
        close = difflib.get_close_matches(name, list(cls.model_fields) if cls else [], n=1)
        lines.append(f"{parent + ': ' if parent else ''}unknown field {name!r}"
                     + (f" (did you mean {close[0]!r}?)" if close else ""))
        explained.update((parent, c) for c in close)
        chosen.update(e["loc"][:k + 1] for k in members)

    def accounted_for(e) -> bool:
        loc = e["loc"]
        if e["type"] == "extra_forbidden":
            return True
        if e["type"] == "missing" and (_place(model, loc[:-1])[0], str(loc[-1])) in explained:
            return True  # the field the unknown one was a typo of
        # another member of a union whose chosen member holds the unknown field
        return any(loc[:k] == c[:-1] and loc[k] != c[-1] for c in chosen for k in [len(c) - 1] if len(loc) > k)

    rest = [e for e in errors if not accounted_for(e)]
    return "; ".join(lines) + (f" (and {len(rest)} more: {_describe(rest[0])})" if rest else "")


def _describe(error) -> str:
    where = ".".join(str(p) for p in error["loc"] if not str(p).startswith("function-after")) or "(top level)"
    return f"field {where}: {error['msg']}"


def load_yaml(path: Path) -> object:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError("file not found", path) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(f"cannot read: {exc}", path) from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" at line {mark.line + 1}" if mark else ""
        raise SpecError(f"not valid YAML{line}: {getattr(exc, 'problem', exc)}", path) from None


def load_model(model: type[BaseModel], path: Path):
    data = load_yaml(path)
    if not isinstance(data, dict):
        raise SpecError("expected a mapping at the top level", path)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise SpecError(_format_validation_error(exc, model), path) from None
