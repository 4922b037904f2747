"""The main screen's actions: instance actions on the selected or marked rows (a bulk action
is one action for every marked row; the rows that refuse it are named), and the host rows'
own actions (disable with a reason, enable, evacuate all, show instances)."""
from __future__ import annotations

from core.actions import ACTIONS, Action

from ..registry import _LABELS, ARGUMENTS, REGISTRY, KeyAction

# The dialogs are imported when first opened, as main_view.py's screens are.


def _simulated(host: dict) -> bool:
    return str(host.get("uri", "")).startswith("test://")


def _verb(action: Action) -> str:
    return action.name.replace("_", " ")


class ActionsMixin:
    # -- which instances an action applies to ------------------------------------------
    acting_on: list[dict] | None = None      # set by the detail screen: its instance
    _targets_cache: list[dict] | None = None  # while the key bar is worked out

    def targets(self) -> list[dict]:
        """The marked instances in table order, else the selected one (or the instance the
        detail screen acts on)."""
        if self.acting_on is not None:
            return list(self.acting_on)
        if self._targets_cache is not None:
            return self._targets_cache
        table = self.instances
        if table.marked:
            order = {row.key.value: n for n, row in enumerate(table.ordered_rows)}
            keys = sorted((k for k in table.marked if k in table.records),
                          key=lambda k: (order.get(k, len(order)), table.records[k]["name"]))
            return [table.records[k] for k in keys]
        return [table.selected] if table.selected else []

    def blocker(self, action: Action, inst: dict) -> tuple[str, str] | None:
        """Why `action` cannot work for `inst` whatever its state: (reason, short form)."""
        hosts = self.hosts.records
        host = hosts.get(inst.get("host") or "")
        if action.name == "live_migrate":
            if host is not None and _simulated(host):
                return (f"{host['name']} is a simulated host (libvirt's test driver): it cannot "
                        "live migrate", "simulated host")
            if not any(n != inst.get("host") and h["state"] == "up" and h["enabled"]
                       and not _simulated(h) for n, h in hosts.items()):
                return "no other host up and enabled can take a live migration", "no host can"
        if action.name == "evacuate" and host is not None and host["state"] == "up":
            return f"Compute service of {host['name']} is still in use.", "host is up"
        if getattr(action, "needs_host_up", False) and host is not None and host["state"] != "up":
            return (f"Service is unavailable at this time: {host['name']} is down",
                    "host is down")
        return None

    def plan(self, entry: KeyAction, only: Action | None = None):
        """(action, [(inst, action, None)], [(inst, reason)]): one action for every target
        (what the key means for the first target that can take it, in table order)."""
        targets = self.targets()
        action = only
        if action is None:
            for inst in targets:
                candidate, reason = entry.resolve(inst)
                if reason is None and self.blocker(candidate, inst) is None:
                    action = candidate
                    break
            else:
                action = entry.resolve(targets[0])[0] if targets else entry.core[0]
        plan, refused = [], []
        for inst in targets:
            blocked = self.blocker(action, inst)
            reason = action.refusal(inst) or (blocked and blocked[0])
            if reason:
                refused.append((inst, str(reason)))
            else:
                plan.append((inst, action, None))
        return action, plan, refused

    def why_not(self, entry: KeyAction) -> str | None:
        """None when the key can act now, else the reason it cannot."""
        if entry.id.startswith("host_"):
            return self.host_why_not(entry)
        if not entry.core:
            return None
        if self.app.read_only:
            return f"read-only console: '{entry.label}' is not allowed"
        if entry.core[0].name == "create":
            return None
        if not self.targets():
            return "select an instance first"
        _, plan, refused = self.plan(entry)
        return None if plan else refused[0][1]

    def cannot_work(self, entry: KeyAction) -> tuple[str, str] | None:
        if not entry.core or not any(a.name in ("live_migrate", "evacuate")
                                     or getattr(a, "needs_host_up", False) for a in entry.core):
            if entry.id == "host_evacuate":
                host = self.hosts.selected
                if host is not None and host["state"] == "up":
                    return f"Compute service of {host['name']} is still in use.", "host is up"
            return None
        targets = self.targets()
        return self.blocker(entry.core[0], targets[0]) if targets else None

    def label_of(self, entry: KeyAction) -> str:
        """A toggle names the way it will go for the selection."""
        if entry.id == "host_toggle":
            host = self.hosts.selected
            return entry.labels[1] if host is not None and not host["enabled"] else entry.labels[0]
        if len(entry.core) > 1 and self.targets():
            action = self.plan(entry)[0]
            return _LABELS.get(action.name, _verb(action))
        return entry.label

    # -- instance actions --------------------------------------------------------------
    def run_named(self, name: str) -> None:
        """From the command palette: an action of the core table by name."""
        entry = next(e for e in REGISTRY if any(a.name == name for a in e.core))
        self.run_instance_action(entry, only=ACTIONS[name])

    def run_instance_action(self, entry: KeyAction, only: Action | None = None) -> None:
        if self.app.read_only or entry.core[0].name == "create" or not self.targets():
            why = self.why_not(entry)
            if why is not None:
                self.toast(why, title=entry.label, severity="warning")
                return
        if entry.core[0].name == "create":
            from .dialogs import LaunchDialog
            self.app.push_screen(LaunchDialog(self.app.catalog), self._launch)
            return
        action, plan, refused = self.plan(entry, only)
        if refused:
            names = ", ".join(inst["name"] for inst, _ in refused)
            detail = "\n".join(f"{inst['name']}: {reason}" for inst, reason in refused)
            self.toast(detail, title=f"{_verb(action)}: not sent to {names}", severity="warning")
        if not plan:
            return
        if action.name in ARGUMENTS:
            key, kind = ARGUMENTS[action.name]
            title = f"{_verb(action).capitalize()} {self._who(plan)}: {key}"
            from .dialogs import ArgumentDialog
            self.app.push_screen(ArgumentDialog(title, kind, self._choices(kind),
                                                self._default(kind, plan[0][0])),
                                 lambda value: value and self._confirm(action, plan, {key: value}))
        else:
            self._confirm(action, plan, {})

    @staticmethod
    def _who(plan) -> str:
        return plan[0][0]["name"] if len(plan) == 1 else f"{len(plan)} instances"

    def _default(self, kind: str, inst: dict) -> str | None:
        if kind == "text":
            return f"{inst['name']}-snap"
        if kind == "flavors":  # the next flavor up: a resize must change flavor
            flavors = self.app.catalog["flavors"]
            names = [f["name"] for f in flavors]
            if not names:
                return None
            at = names.index(inst["flavor"]) if inst["flavor"] in names else -1
            return names[min(at + 1, len(names) - 1)]
        return inst.get("image")

    def _choices(self, kind: str) -> list[tuple[str, str]]:
        catalog = self.app.catalog
        if kind == "images":
            return [(i["name"], i["name"]) for i in catalog["images"]]
        if kind == "flavors":
            return [(f"{f['name']}  ({f['vcpus']} vCPU, {f['ram_mb']} MB, {f['disk_gb']} GB)", f["name"])
                    for f in catalog["flavors"]]
        return []

    def _confirm(self, action: Action, plan, params: dict, question: str | None = None) -> None:
        if action.destructive:
            verb = _verb(action)
            from .dialogs import ConfirmDialog
            self.app.push_screen(ConfirmDialog(question or f"{verb.capitalize()} {self._who(plan)}?",
                                               verb, plan),
                                 lambda ok: ok and self._send(plan, params))
        else:
            self._send(plan, params)

    def _send(self, plan, params: dict) -> None:
        for inst, action, _ in plan:
            self.app.send(action.name, inst, **params)
        if self.acting_on is None:
            self.instances.marked.clear()
        self.instances.rerender([inst["uuid"] for inst, _, _ in plan])
        self.update_titles()
        self.refresh_keys()

    def _launch(self, request: dict | None) -> None:
        if request:
            self.app.launch(**request)

    # -- host actions ------------------------------------------------------------------
    def host_why_not(self, entry: KeyAction) -> str | None:
        host = self.hosts.selected
        if host is None:
            return "select a host first"
        if entry.mutating and self.app.read_only:
            return f"read-only console: '{self.label_of(entry)}' is not allowed"
        if entry.id == "host_evacuate":
            blocked = self.cannot_work(entry)
            if blocked:
                return blocked[0]
            name = host["name"]   # (the key bar asks at every change: no list, no order)
            if not any(i.get("host") == name for i in self.instances.records.values()):
                return f"no instance on {name}"
        return None

    def _host_instances(self, name: str) -> list[dict]:
        table = self.instances
        order = {row.key.value: n for n, row in enumerate(table.ordered_rows)}
        insts = [i for i in table.records.values() if i.get("host") == name]
        return sorted(insts, key=lambda i: (order.get(i["uuid"], len(order)), i["name"]))

    def _host_checked(self, entry: KeyAction) -> dict | None:
        why = self.host_why_not(entry)
        if why is not None:
            self.toast(why, title=self.label_of(entry), severity="warning")
            return None
        return self.hosts.selected

    def do_host_toggle(self) -> None:
        host = self._host_checked(REGISTRY_BY_ID["host_toggle"])
        if host is None:
            return
        name = host["name"]
        if host["enabled"]:
            from .reason import ReasonDialog
            self.app.push_screen(ReasonDialog(f"Disable {name}: the scheduler will skip it"),
                                 lambda reason: reason is not None and self.app.set_host(
                                     name, False, reason or None))
        else:
            self.app.set_host(name, True)

    def do_host_evacuate(self) -> None:
        host = self._host_checked(REGISTRY_BY_ID["host_evacuate"])
        if host is None:
            return
        action = ACTIONS["evacuate"]
        plan, refused = [], []
        for inst in self._host_instances(host["name"]):
            reason = action.refusal(inst)
            (refused.append((inst, str(reason))) if reason else plan.append((inst, action, None)))
        if refused:
            self.toast("\n".join(f"{i['name']}: {r}" for i, r in refused),
                       title=f"evacuate: not sent to {', '.join(i['name'] for i, _ in refused)}",
                       severity="warning")
        if plan:
            self._confirm(action, plan, {},
                          f"Evacuate {self._who(plan)} from {host['name']}?")

    def do_host_instances(self) -> None:
        host = self._host_checked(REGISTRY_BY_ID["host_instances"])
        if host is None:
            return
        name = host["name"]
        table = self.instances
        self.scope_host = None if self.scope_host == name else name
        table.scope = None if self.scope_host is None else (lambda i, h=name: i.get("host") == h)
        table.refilter()
        self.update_titles()


REGISTRY_BY_ID = {e.id: e for e in REGISTRY}
