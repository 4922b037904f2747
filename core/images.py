"""The image store (this product's Glance): a registry in SQLite, files in <state>/images."""
from __future__ import annotations

import os
import shutil
import time
import uuid as uuidlib
from pathlib import Path

from .config import ImageSpec
from .errors import Conflict, InvalidInput, only_one
from .hostfiles import sha256_file
from .store import Store


CONFIGURED_IMAGES = uuidlib.UUID("7f0c2a1e-8d4b-5c3a-9e61-4b2f0d9a6c15")  # uuid5 namespace


QCOW2_MAGIC = b"QFI\xfb"


def disk_format_of(path: Path) -> str:
    with open(path, "rb") as f:
        return "qcow2" if f.read(4) == QCOW2_MAGIC else "raw"


def qcow2_refusal(path: Path) -> str | None:
    """Why a qcow2 image may not be registered: one that names a backing file or an
    external data file would let a guest read a file of its host (Glance's format
    inspector refuses both; CVE-2022-47951, CVE-2024-32498). None for a safe one, and
    for anything that is not qcow2."""
    with open(path, "rb") as f:
        header = f.read(80)
    if header[:4] != QCOW2_MAGIC or len(header) < 20:
        return None
    version = int.from_bytes(header[4:8], "big")
    if int.from_bytes(header[8:16], "big") != 0:
        return "it names a backing file"
    if version >= 3 and len(header) >= 80 and int.from_bytes(header[72:80], "big") & 0x4:
        return "it names an external data file"
    return None


class ImageStore:
    def __init__(self, store: Store, images_dir: Path, read_only: bool = False):
        self.store = store
        self.dir = images_dir
        if not read_only:
            self.dir.mkdir(parents=True, exist_ok=True)

    def ensure_configured(self, specs: tuple[ImageSpec, ...]) -> None:
        """Register the inventory's images once; later starts find them in the store."""
        have = {i["name"] for i in self.store.list_images() if i["type"] == "image"}
        for spec in specs:
            if spec.name not in have:
                self._register(spec, configured=True)

    def _register(self, spec: ImageSpec, configured: bool = False) -> dict:
        # A configured image keeps its id: registered again after a delete, it is still the
        # image its instances name.
        image_id = str(uuidlib.uuid5(CONFIGURED_IMAGES, spec.name) if configured else uuidlib.uuid4())
        path = self.dir / f"{image_id}.{spec.disk_format}"
        tmp = path.with_suffix(".part")
        if spec.file is not None:
            if not spec.file.is_file():
                raise InvalidInput(f"image {spec.name!r}: file {spec.file} does not exist")
            shutil.copyfile(spec.file, tmp)
        else:
            # A blank raw disk with a label in its first sector, so images differ.
            with open(tmp, "wb") as f:
                f.write(f"novatui image {spec.name}\n".encode().ljust(512, b"\0"))
                f.truncate(spec.size_mb * 1024 * 1024)
        os.replace(tmp, path)
        return self.store.add_image({
            "id": image_id, "name": spec.name,
            "disk_format": disk_format_of(path) if spec.file else spec.disk_format,
            "size": path.stat().st_size, "checksum": sha256_file(path), "type": "image",
            "path": str(path), "properties": spec.properties, "created_at": time.time()})

    def create_from_file(self, name: str, file: Path) -> dict:
        file = Path(file)
        if not file.is_file():
            raise InvalidInput(f"image file {file} does not exist or is not a file")
        refusal = qcow2_refusal(file)
        if refusal is not None:
            raise InvalidInput(f"image file {file} is refused: {refusal}")
        return self._register(ImageSpec(name=name, disk_format=disk_format_of(file), file=file))

    def new_snapshot(self, name: str, instance_uuid: str, disk_format: str) -> dict:
        """A queued image that compute fills (snapshot, shelve)."""
        image_id = str(uuidlib.uuid4())
        return self.store.add_image({
            "id": image_id, "name": name, "disk_format": disk_format, "size": 0,
            "checksum": "", "type": "snapshot", "instance_uuid": instance_uuid,
            "path": str(self.dir / f"{image_id}.{disk_format}"), "status": "queued",
            "created_at": time.time()})

    def new_queued(self, name: str, disk_format: str, properties: dict) -> dict:
        """A record with no data yet (Glance's POST /v2/images); upload() fills it."""
        image_id = str(uuidlib.uuid4())
        return self.store.add_image({
            "id": image_id, "name": name, "disk_format": disk_format, "size": 0,
            "checksum": "", "type": "image", "path": str(self.dir / f"{image_id}.{disk_format}"),
            "properties": properties, "status": "queued", "created_at": time.time()})

    def upload(self, image_id: str, data: Path, checksum: str) -> dict:
        """A queued image's data (`data`, a file in this store's dir, sha256 `checksum`)
        takes its place and the image becomes active. The data must be what the record
        says it is, as Glance's format inspector requires."""
        image = self.store.get_image(image_id)
        if image is None or image["status"] != "queued":
            Path(data).unlink(missing_ok=True)
            state = image["status"] if image else "deleted"
            raise Conflict(f"Image status transition from {state} to saving is not allowed")
        found, refusal = disk_format_of(Path(data)), qcow2_refusal(Path(data))
        if refusal is not None:
            Path(data).unlink(missing_ok=True)
            raise InvalidInput(f"Image {image['name']} is refused: {refusal}")
        if found != image["disk_format"]:
            Path(data).unlink(missing_ok=True)
            raise InvalidInput(f"Image content does not match disk_format: the data is "
                               f"{found}, the image says {image['disk_format']}")
        os.replace(data, image["path"])
        self.store.update_image(image_id, size=Path(image["path"]).stat().st_size,
                                checksum=checksum, status="active")
        return self.store.get_image(image_id)

    def finalize(self, image_id: str, checksum: str) -> None:
        path = Path(self.store.get_image(image_id)["path"])
        self.store.update_image(image_id, size=path.stat().st_size, checksum=checksum,
                                status="active", disk_format=disk_format_of(path))

    @staticmethod
    def is_whole(image: dict | None) -> bool:
        """The image's file is there with the size and sha256 recorded for it."""
        if image is None or image["status"] != "active" or not image["checksum"]:
            return False
        path = Path(image["path"])
        return path.is_file() and path.stat().st_size == image["size"] and \
            sha256_file(path) == image["checksum"]

    def users(self, image_id: str) -> list[dict]:
        """Instances that need this image: shelved ones to come back, the others to be
        rebuilt, rescued or evacuated from it."""
        return [i for i in self.store.list_instances()
                if image_id in (i["sys_meta"].get("shelved_image_id"), i["image_id"])]

    def delete(self, ref: str, force: bool = False) -> dict:
        image = self.get(ref) if not isinstance(ref, dict) else ref
        needed = self.users(image["id"])
        if needed and not force:
            shelved = [i["name"] for i in needed if i["sys_meta"].get("shelved_image_id") == image["id"]]
            built = [i["name"] for i in needed if i["name"] not in shelved]
            uses = [f"to {verb} {_names(names)}" for verb, names in
                    (("unshelve", shelved), ("rebuild, rescue or evacuate", built)) if names]
            raise Conflict(f"Image {image['name']} ({image['id']}) is needed {' and '.join(uses)}; "
                           "it cannot be deleted")
        Path(image["path"]).unlink(missing_ok=True)
        self.store.delete_image(image["id"])
        return image

    def finish_deletes(self) -> None:
        """Deletes committed by a process that died before it removed their files."""
        for image in self.store.list_images(status="deleting"):
            self.finish_delete(image)

    def finish_delete(self, image: dict) -> None:
        Path(image["path"]).unlink(missing_ok=True)
        self.store.delete_image(image["id"])

    def forget_shelved(self, uuid: str) -> dict | None:
        """Mark the shelve image of an instance being deleted (in the caller's transaction);
        the caller finishes the delete (finish_delete) once that has committed, and a start
        finishes it for a process that died in between."""
        inst = self.store.get_instance(uuid)
        image_id = inst and inst["sys_meta"].get("shelved_image_id")
        image = image_id and self.store.get_image(image_id)
        if not image:
            return None
        self.store.update_image(image["id"], status="deleting")
        return image

    def delete_shelved(self, uuid: str) -> None:
        """An instance deleted while shelved takes its shelve image with it."""
        inst = self.store.get_instance(uuid)
        image_id = inst and inst["sys_meta"].get("shelved_image_id")
        image = image_id and self.store.get_image(image_id)
        if image:
            self.delete(image, force=True)

    def get(self, ref: str) -> dict:
        return only_one(self.store.find_images(ref), "image", ref)

    def list(self) -> list[dict]:
        return self.store.list_images()


def _names(names: list[str], most: int = 10) -> str:
    return ", ".join(names[:most]) + (f" and {len(names) - most} more" if len(names) > most else "")
