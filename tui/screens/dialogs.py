"""Modal dialogs: launch an instance, confirm a destructive action, ask an argument.

Lists of images are read again each time a dialog opens (off the UI thread): snapshots and
images added since the console started are offered too."""
from __future__ import annotations

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select

from core.config import validate_name
from core.errors import InvalidInput, NovaError


class ImagesRefresh:
    """A dialog with an image Select (#image_select_id) that is refreshed when it opens."""

    image_select_id = "image"

    @work(thread=True, exclusive=True, group="dialog-images")
    def refresh_images(self) -> None:
        try:
            images = [i for i in self.app.client.images() if i["status"] == "active"]
        except NovaError:
            return  # keep what was offered; the request itself will say what is wrong
        self.app.call_from_thread(self._show_images, images)

    def _show_images(self, images: list[dict]) -> None:
        if not self.is_attached:
            return  # answered before the list came
        catalog = getattr(self.app, "catalog", None)
        if catalog is not None:
            catalog["images"] = images
        names = [i["name"] for i in images]
        if not names:
            return  # keep what was offered: an empty Select cannot be set
        select = self.query_one(f"#{self.image_select_id}", Select)
        current = select.value
        select.set_options([(n, n) for n in names])
        select.value = current if current in names else names[0]


class LaunchDialog(ImagesRefresh, ModalScreen[dict | None]):
    """Name, flavor, image and availability zone; the name is checked before it is sent."""

    BINDINGS = [Binding("escape", "cancel", "cancel")]

    def __init__(self, catalog: dict) -> None:
        super().__init__()
        self.catalog = catalog

    def compose(self) -> ComposeResult:
        c = self.catalog
        with Vertical(id="dialog"):
            yield Label("Launch instance", classes="title")
            yield Input(placeholder="name", id="name")
            yield Select([(f"{f['name']}  ({f['vcpus']} vCPU, {f['ram_mb']} MB, {f['disk_gb']} GB)",
                           f["name"]) for f in c["flavors"]], prompt="flavor", id="flavor",
                         value=c["flavors"][0]["name"] if c["flavors"] else Select.BLANK)
            yield Select([(i["name"], i["name"]) for i in c["images"]], prompt="image", id="image",
                         value=c["images"][0]["name"] if c["images"] else Select.BLANK)
            yield Select([("any availability zone", "")] + [(z, z) for z in c["zones"]],
                         prompt="availability zone", id="az", value="")
            yield Label("", id="error")
            with Horizontal(classes="buttons"):
                yield Button("Launch", variant="primary", id="ok")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#name", Input).focus()
        self.refresh_images()

    @on(Input.Submitted)
    @on(Button.Pressed, "#ok")
    def submit(self) -> None:
        name = self.query_one("#name", Input).value.strip()
        values = {k: self.query_one(f"#{k}", Select).value for k in ("flavor", "image", "az")}
        try:
            validate_name("server", name)
        except InvalidInput as e:
            self.query_one("#error", Label).update(e.message)
            return
        if values["flavor"] is Select.BLANK or values["image"] is Select.BLANK:
            self.query_one("#error", Label).update("choose a flavor and an image")
            return
        self.dismiss({"name": name, "flavor": values["flavor"], "image": values["image"],
                      "availability_zone": values["az"] or None})

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)


class ConfirmDialog(ModalScreen[bool]):
    """Names what will be destroyed; Enter on the focused button, y / n, Esc cancels."""

    BINDINGS = [Binding("escape,n", "answer(False)", "cancel"), Binding("y", "answer(True)", "yes")]

    def __init__(self, question: str, verb: str, plan) -> None:
        super().__init__()
        self.question, self.verb, self.plan = question, verb, plan

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(self.question, classes="title")
            for inst, action, _ in self.plan:
                yield Label(f"  {inst['name']}  {inst['uuid']}  on {inst.get('host') or '-'}")
            yield Label("This cannot be undone.", classes="warning")
            with Horizontal(classes="buttons"):
                yield Button(self.verb.capitalize(), variant="error", id="yes")
                yield Button("Cancel", id="no")

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    @on(Button.Pressed)
    def pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)


class ArgumentDialog(ImagesRefresh, ModalScreen[str | None]):
    """The one argument an action needs: a new image's name, an image or a flavor."""

    BINDINGS = [Binding("escape", "cancel", "cancel")]
    image_select_id = "value"

    def __init__(self, title: str, kind: str, options: list[tuple[str, str]], default=None) -> None:
        super().__init__()
        self.title_text, self.kind, self.options, self.default = title, kind, options, default

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(self.title_text, classes="title")
            if self.kind == "text":
                yield Input(value=self.default or "", id="value")
            else:
                options = list(self.options)
                if self.default and self.default not in [v for _, v in options]:
                    options.insert(0, (self.default, self.default))  # newer than the list
                yield Select(options, id="value", allow_blank=False,
                             value=self.default if self.default else options[0][1])
            yield Label("", id="error")
            with Horizontal(classes="buttons"):
                yield Button("OK", variant="primary", id="ok")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#value").focus()
        if self.kind == "images":
            self.refresh_images()

    @on(Input.Submitted)
    @on(Button.Pressed, "#ok")
    def submit(self) -> None:
        value = self.query_one("#value").value
        if self.kind == "text":
            try:
                validate_name("image", value.strip())
            except InvalidInput as e:
                self.query_one("#error", Label).update(e.message)
                return
            value = value.strip()
        self.dismiss(value)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)
