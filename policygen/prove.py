"""``policygen test``: every selected target's evaluator against the model,
and the model against the fixtures' declared expectations.

The result is a verdict matrix (object × rule × engine) and the list of
disagreements, each naming the object, the container, the rule and what
each side said."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from policygen.agreement import disagreements
from policygen.apart import run as run_apart
from policygen.config import Config
from policygen.engines import EvalContext, Evaluator, Review, create, evaluators_of
from policygen.errors import PolicygenError, Problems
from policygen.fixtures import Fixture, builtin_corpus, read_fixtures
from policygen.rules import TABLE
from policygen.violations import ACTION_STRENGTH, Violation
from policygen.workloads import namespace_of

#: Told (engine, objects, seconds) as each engine finishes, for a progress line.
Progress = Callable[[str, int, float], None]

#: every rule a finding names, from the rule table: the config's, then scope
#: (a Namespace that could not be evaluated)
RULES = tuple(TABLE)


@dataclass(frozen=True)
class Row:
    fixture: Fixture
    namespace: str
    by_engine: dict[str, list[Violation]]
    problems: list[str]

    def cell(self, engine: str, rule: str) -> str:
        """The strongest action an engine took for a rule, or ``allow``."""
        best = "allow"
        for v in self.by_engine[engine]:
            if v.rule == rule and ACTION_STRENGTH[v.action] > ACTION_STRENGTH[best]:
                best = v.action
        return best


@dataclass
class Proof:
    engines: list[str]
    rows: list[Row] = field(default_factory=list)

    @property
    def failed(self) -> list[Row]:
        return [r for r in self.rows if r.problems]


def prove_config(
    config: Config,
    ctx: EvalContext,
    fixture_paths: list[str],
    *,
    builtin: bool = True,
    rego_engine: str = "auto",
    progress: Progress | None = None,
    apart: bool = False,
) -> Proof:
    """The proof ``policygen test`` and ``policygen report`` show: the model
    and each selected target's evaluator, over the built-in corpus (unless
    ``builtin`` is off) and the user's fixtures. ``apart``: each engine in
    a process of its own where the machine allows (see ``prove``)."""
    # each target's evaluator bears its name; its variants follow it
    names = ["model", *(n for t in config.spec.targets for n in evaluators_of(t))]
    engines = [create(n, rego_engine=rego_engine) for n in names]
    fixtures, namespaces = builtin_corpus(config) if builtin else ([], {})
    user, user_namespaces, problems = read_fixtures(fixture_paths)
    if problems:
        raise Problems([str(p) for p in problems])
    if not fixtures and not user:
        raise PolicygenError("nothing to test: no fixtures (and --no-builtin)")
    every = fixtures + user
    every_namespace = {**namespaces, **user_namespaces}
    return prove(config, engines, every, every_namespace, ctx, progress, apart=apart)


def prove(
    config: Config,
    engines: Sequence[Evaluator],
    fixtures: list[Fixture],
    namespaces: dict[str, dict[str, Any]],
    ctx: EvalContext,
    progress: Progress | None = None,
    *,
    apart: bool = False,
) -> Proof:
    """``engines[0]`` is the reference model; ``progress`` hears of each
    engine as it has answered for every fixture.

    Each engine gets every fixture in one call: its policies are loaded
    once, and its reuse layer answers equal requests once and batches the
    rest (OPA's workers take them together). ``apart``: the engines other
    than the model answer in processes of their own, side by side
    (policygen.apart), which is only for engines that have loaded nothing
    yet; the answers are the same."""
    proof = Proof([e.name for e in engines])
    context = EvalContext(ctx.now, namespaces, ctx.bundle)
    reviews = [Review(f.obj, namespace_of(f.obj, "default")) for f in fixtures]

    def ask(engine: Evaluator) -> Callable[[], list[list[Violation]]]:
        return lambda: engine.evaluate(config, reviews, context)

    def done(name: str, seconds: float) -> None:
        if progress is not None:
            progress(name, len(reviews), seconds)

    model, others = engines[0], engines[1:]
    if apart:
        answers = run_apart({e.name: ask(e) for e in others}, {model.name: ask(model)}, done)
    else:
        answers = {}
        for engine in engines:
            start = time.perf_counter()
            answers[engine.name] = engine.evaluate(config, reviews, context)
            done(engine.name, time.perf_counter() - start)
    for i, (fixture, review) in enumerate(zip(fixtures, reviews, strict=True)):
        by_engine = {name: answer[i] for name, answer in answers.items()}
        known = review.namespace in namespaces
        problems = _problems(fixture, by_engine, engines, known)
        proof.rows.append(Row(fixture, review.namespace, by_engine, problems))
    return proof


def _problems(
    fixture: Fixture,
    by_engine: dict[str, list[Violation]],
    engines: Sequence[Evaluator],
    namespace_known: bool,
) -> list[str]:
    model_name = engines[0].name
    model = by_engine[model_name]
    out = []
    if fixture.expected is not None:
        found = {(v.rule, v.container) for v in model}
        for rule, container in sorted(fixture.expected - found):
            out.append(f"{model_name}: expected {rule} on container {container!r}, not reported")
        for rule, container in sorted(found - fixture.expected):
            said = next(v.message for v in model if (v.rule, v.container) == (rule, container))
            out.append(f"{model_name}: {rule} on container {container!r} not expected: {said}")
    for engine in engines[1:]:
        differ = disagreements(
            model, by_engine[engine.name], per_rule=engine.per_rule, namespace_known=namespace_known
        )
        out.extend(f"{engine.name}: {d}" for d in differ)
    return out
