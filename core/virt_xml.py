"""A guest's libvirt domain XML, built as a tree (user input never meets string
formatting), and the names and namespaces it carries. No libvirt here: the API's views
name domains without loading it."""
from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from pathlib import Path

NOVA_NS = "http://openstack.org/xmlns/libvirt/nova/1.1"
TEST_NS = "http://libvirt.org/schemas/domain/test/1.0"
# Which novatui host a guest belongs to: two inventory hosts may share one libvirtd.
PLACEMENT_NS = "https://github.com/novatui/xmlns/placement/1"
# The prefixes ElementTree writes them with (process-wide)
for _prefix, _uri in (("nova", NOVA_NS), ("novatui", PLACEMENT_NS), ("test", TEST_NS)):
    ET.register_namespace(_prefix, _uri)


def domain_name(uuid: str) -> str:
    return "instance-" + uuid.replace("-", "")[:12]


def build_domain_xml(inst: dict, disk_path: Path, domain_type: str, disk_format: str = "raw",
                     rescue_disk: Path | None = None) -> str:
    """The guest's definition, built as a tree: user input never meets string formatting."""
    dom = ET.Element("domain", type=domain_type)
    ET.SubElement(dom, "name").text = domain_name(inst["uuid"])
    ET.SubElement(dom, "uuid").text = inst["uuid"]
    meta = ET.SubElement(ET.SubElement(dom, "metadata"), f"{{{NOVA_NS}}}instance")
    ET.SubElement(meta, f"{{{NOVA_NS}}}package", version="novatui-0.1")
    ET.SubElement(meta, f"{{{NOVA_NS}}}name").text = inst["name"]
    ET.SubElement(meta, f"{{{NOVA_NS}}}creationTime").text = time.strftime(
        "%Y-%m-%d %H:%M:%S", time.gmtime(inst["created_at"]))
    flavor = ET.SubElement(meta, f"{{{NOVA_NS}}}flavor", name=inst["flavor"])
    ET.SubElement(flavor, f"{{{NOVA_NS}}}memory").text = str(inst["memory_mb"])
    ET.SubElement(flavor, f"{{{NOVA_NS}}}disk").text = str(inst["root_gb"])
    ET.SubElement(flavor, f"{{{NOVA_NS}}}vcpus").text = str(inst["vcpus"])
    owner = ET.SubElement(meta, f"{{{NOVA_NS}}}owner")
    ET.SubElement(owner, f"{{{NOVA_NS}}}user", uuid="admin").text = "admin"
    ET.SubElement(owner, f"{{{NOVA_NS}}}project", uuid="admin").text = "admin"
    ET.SubElement(meta, f"{{{NOVA_NS}}}root", type="image", uuid=inst.get("image_id") or "")
    ET.SubElement(dom.find("metadata"), f"{{{PLACEMENT_NS}}}placement", host=inst.get("host") or "")
    ET.SubElement(dom, "memory", unit="MiB").text = str(inst["memory_mb"])
    ET.SubElement(dom, "vcpu").text = str(inst["vcpus"])
    os_el = ET.SubElement(dom, "os")
    ET.SubElement(os_el, "type", arch="x86_64").text = "hvm"
    ET.SubElement(os_el, "boot", dev="hd")
    ET.SubElement(dom, "on_poweroff").text = "destroy"
    ET.SubElement(dom, "on_reboot").text = "restart"
    ET.SubElement(dom, "on_crash").text = "destroy"
    devices = ET.SubElement(dom, "devices")
    disks = [(rescue_disk, disk_format), (disk_path, disk_format)] if rescue_disk else [(disk_path, disk_format)]
    for i, (path, fmt) in enumerate(disks):
        disk = ET.SubElement(devices, "disk", type="file", device="disk")
        ET.SubElement(disk, "driver", name="qemu" if domain_type != "test" else "test", type=fmt)
        ET.SubElement(disk, "source", file=str(path))
        ET.SubElement(disk, "target", dev="vd" + "abcdefgh"[i], bus="virtio")
    if domain_type != "test":
        serial = ET.SubElement(devices, "serial", type="pty")
        ET.SubElement(serial, "target", port="0")
        console = ET.SubElement(devices, "console", type="pty")
        ET.SubElement(console, "target", type="serial", port="0")
    return ET.tostring(dom, encoding="unicode")
