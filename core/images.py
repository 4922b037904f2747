"""The image store (this product's Glance): a registry in SQLite, files in <state>/images."""
from __future__ import annotations

import os
import shutil
import time
import uuid as uuidlib
from pathlib import Path

from .config import ImageSpec
from .errors import InvalidInput, NotFound
from .hostfiles import sha256_file
from .store import Store


class ImageStore:
    def __init__(self, store: Store, images_dir: Path):
        self.store = store
        self.dir = images_dir
        self.dir.mkdir(parents=True, exist_ok=True)

    def ensure_configured(self, specs: tuple[ImageSpec, ...]) -> None:
        """Register the inventory's images once; later starts find them in the store."""
        have = {i["name"] for i in self.store.list_images() if i["type"] == "image"}
        for spec in specs:
            if spec.name not in have:
                self._register(spec)

    def _register(self, spec: ImageSpec) -> dict:
        image_id = str(uuidlib.uuid4())
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
            "id": image_id, "name": spec.name, "disk_format": spec.disk_format,
            "size": path.stat().st_size, "checksum": sha256_file(path), "type": "image",
            "path": str(path), "properties": spec.properties, "created_at": time.time()})

    def get(self, ref: str) -> dict:
        found = self.store.find_images(ref)
        if not found:
            raise NotFound(f"No image with a name or ID of '{ref}' exists.")
        if len(found) > 1:
            raise InvalidInput(f"More than one image exists with the name '{ref}'; use its ID.")
        return found[0]

    def list(self) -> list[dict]:
        return self.store.list_images()
