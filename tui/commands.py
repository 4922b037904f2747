"""The command palette (ctrl+p): every registry action by name, run on the screen the
palette was opened from (while it is open, `app.screen` is the palette itself)."""
from __future__ import annotations

from textual.command import DiscoveryHit, Hit, Hits, Provider

from .registry import HOSTS, REGISTRY

HOST_NAMES = {"host_toggle": "disable / enable host", "host_evacuate": "evacuate host (all its instances)",
              "host_instances": "show host's instances"}


class ActionCommands(Provider):
    def _entries(self):
        screen = self.screen
        if not hasattr(screen, "run_entry"):
            return
        for entry in REGISTRY:
            if entry.core:
                for action in entry.core:
                    yield (action.name.replace("_", " "), action.description,
                           lambda e=entry, a=action: screen.run_entry(e, only=a))
            elif entry.view == HOSTS:
                yield (HOST_NAMES.get(entry.id, entry.label), entry.description,
                       lambda e=entry: screen.run_entry(e))
            elif not entry.id.startswith("sort_"):
                yield entry.label, entry.description, lambda e=entry: screen.run_entry(e)

    async def discover(self) -> Hits:
        for name, help_text, run in self._entries():
            yield DiscoveryHit(name, run, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, help_text, run in self._entries():
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), run, help=help_text)
