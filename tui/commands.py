"""The command palette (ctrl+p): every registry action by name."""
from __future__ import annotations

from textual.command import DiscoveryHit, Hit, Hits, Provider

from .registry import REGISTRY


class ActionCommands(Provider):
    def _entries(self):
        screen = self.app.screen
        if not hasattr(screen, "run_named"):
            return
        for entry in REGISTRY:
            if entry.core:
                for action in entry.core:
                    yield (f"{action.name.replace('_', ' ')}", action.description,
                           lambda a=action.name: screen.run_named(a) if a != "create"
                           else screen.action_key("n"))
            else:
                yield entry.label, entry.description, lambda e=entry: screen.action_key(e.key)

    async def discover(self) -> Hits:
        for name, help_text, run in self._entries():
            yield DiscoveryHit(name, run, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, help_text, run in self._entries():
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), run, help=help_text)
