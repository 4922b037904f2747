"""Random interleavings: hypothesis picks actions on random instances (through the CLI, one
process each), some killed at a random crash point of those the campaign discovered (and
some with the restart that carries them on killed too), some left with `--no-wait`; after
every step a restart (`server list`) and the invariants.

Refused requests (exit 2) and failed ones (exit 1, a fault) are fine; a broken invariant is
not. Deterministic by default (derandomized, a few short runs); NOVATUI_SOAK=1 explores at
random, longer. No shrinking: every example costs seconds of processes, and the failing
steps are printed as they ran."""
from __future__ import annotations

from hypothesis import HealthCheck, Phase, settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from tests.crash.conftest import KILLED, OPS, SOAK, WAIT, discover
from tests.invariants import cli_env

ACTIONS = {  # `server ...`: the wait options come first (`resize confirm NAME` takes words as servers)
    "stop": "stop {wait} {name}", "start": "start {wait} {name}", "migrate": "migrate {wait} {name}",
    "resize": "resize {wait} --flavor m1.small {name}",
    "resize-medium": "resize {wait} --flavor m1.medium {name}",
    "confirm": "resize {wait} confirm {name}", "revert": "resize {wait} revert {name}",
    "shelve": "shelve {wait} {name}", "unshelve": "unshelve {wait} {name}",
    "snapshot": "image create {wait} --name {name}-snap {name}", "rebuild": "rebuild {wait} {name}",
    "delete": "delete {wait} {name}",
}
SETTINGS = settings(
    max_examples=40 if SOAK else 6, stateful_step_count=15 if SOAK else 8, deadline=None,
    derandomize=not SOAK, database=None, suppress_health_check=list(HealthCheck),
    phases=(Phase.explicit, Phase.reuse, Phase.generate), print_blob=False)


def command(action: str, name: str, no_wait: bool = False) -> tuple[str, ...]:
    wait = ["--no-wait"] if no_wait else list(WAIT)
    words = ACTIONS[action].replace("{name}", name).split()
    at = words.index("{wait}")
    return ("server", *words[:at], *wait, *words[at + 1:])


class Cloudy(RuleBasedStateMachine):
    template = None            # set by the test: the session's template
    points: dict[str, list[str]] = {}  # action -> "name#n" its campaign operation passes; "*": all

    def __init__(self):
        super().__init__()
        self.cloud = self.template.restore()
        self.names = sorted(self.template.uuids)
        self.remade: dict[str, str] = {}
        self.trouble: list[str] = []
        self.steps: list[str] = []

    def pick(self, who: int) -> str:
        return self.names[who % len(self.names)]

    def run(self, args: tuple[str, ...], crash_at: str | None = None) -> None:
        env = cli_env(**({"NOVATUI_CRASH_AT": crash_at} if crash_at else {}))
        p = self.cloud.run(*args, env=env)
        self.steps.append(f"{' '.join(args)}{f' @{crash_at}' if crash_at else ''} -> {p.returncode}")
        allowed = (0, 1, 2, KILLED) if crash_at else (0, 1, 2)
        if p.returncode not in allowed:
            self.trouble.append(f"[cli] {' '.join(args)} -> {p.returncode}: {p.stderr.strip()[-300:]}")
        if len(args) > 2 and args[1] == "rebuild" and args[-1] in self.template.uuids:
            self.remade[args[-1]] = "cirros"

    @rule(die=st.booleans(), data=st.data())
    def create(self, die, data):
        name = f"n{len(self.names)}"
        point = data.draw(st.sampled_from(self.points["create"]), label="crash at") if die else None
        self.run(("server", "create", *WAIT, "--flavor", "m1.tiny", "--image", "cirros", name), point)
        self.names.append(name)

    @rule(action=st.sampled_from(sorted(ACTIONS)), who=st.integers(0, 50))
    def act(self, action, who):
        self.run(command(action, self.pick(who)))

    def point(self, action: str, data) -> str:
        return data.draw(st.sampled_from(self.points.get(action) or self.points["*"]), label="crash at")

    @rule(action=st.sampled_from(sorted(ACTIONS)), who=st.integers(0, 50), data=st.data())
    def act_and_die(self, action, who, data):
        self.run(command(action, self.pick(who)), crash_at=self.point(action, data))

    @rule(action=st.sampled_from(sorted(ACTIONS)), who=st.integers(0, 50), data=st.data())
    def act_and_die_twice(self, action, who, data):
        """Killed, and the restart that carries the work on killed too."""
        self.run(command(action, self.pick(who)), crash_at=self.point(action, data))
        self.run(("server", "list"), crash_at=self.point(action, data))

    @rule(action=st.sampled_from(sorted(ACTIONS)), who=st.integers(0, 50))
    def act_and_leave(self, action, who):
        self.run(command(action, self.pick(who), no_wait=True))

    @invariant()
    def restart_then_check(self):
        problems = self.trouble + self.cloud.restart() + self.cloud.check(self.template.expected(self.remade))
        self.trouble = []
        assert not problems, "after:\n  " + "\n  ".join(self.steps) + "\nbroken:\n  " + "\n  ".join(problems)


def test_random_actions_crashes_and_restarts(template):
    points = {op.name: [f"{name}#{n}" for name, n in discover(template, op)[0]] for op in OPS}
    points["*"] = sorted({p for found in points.values() for p in found})
    Cloudy.template, Cloudy.points = template, points
    run_state_machine_as_test(Cloudy, settings=SETTINGS)
