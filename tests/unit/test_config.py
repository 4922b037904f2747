"""hosts.toml validation: every mistake is one line naming the file, the key and the reason."""
from __future__ import annotations

import pytest

from core.config import load_config
from core.errors import ConfigError
from tests.conftest import ROOT


def test_default_inventory_loads():
    c = load_config(ROOT / "hosts.toml")
    assert [(h.name, h.vcpus, h.memory_mb, h.availability_zone, h.simulated) for h in c.hosts] == [
        ("cmp1", 8, 16384, "az1", True), ("cmp2", 16, 32768, "az1", True),
        ("cmp3", 32, 65536, "az2", True)]
    assert {n: (f.vcpus, f.ram_mb, f.disk_gb) for n, f in c.flavors.items()} == {
        "m1.tiny": (1, 512, 1), "m1.small": (1, 2048, 20), "m1.medium": (2, 4096, 40),
        "m1.large": (4, 8192, 80), "m1.xlarge": (8, 16384, 160)}
    assert "cirros" in [i.name for i in c.images]
    s = c.scheduler
    assert (s.cpu_allocation_ratio, s.ram_allocation_ratio, s.disk_allocation_ratio) == (16.0, 1.5, 1.0)
    assert str(c.network) == "10.0.0.0/24"


BAD = [
    ("[[hosts]]\nname='a'\nuri='test:///'\nvcpus=-1\nmemory_mb=1\ndisk_gb=1\n",
     "hosts[0].vcpus: must be greater than 0"),
    ("[[hosts]]\nname='a b'\nuri='test:///'\n", "hosts[0].name: invalid host name 'a b'"),
    ("[[hosts]]\nname='a'\nuri='xen:///'\n", "hosts[0].uri: 'xen:///' is not supported"),
    ("[[hosts]]\nname='a'\nuri='test:///'\nvcpus='8'\n", "hosts[0].vcpus: must be an integer, not '8'"),
    ("[[hosts]]\nname='a'\nuri='test:///'\nvcpus=1\nmemory_mb=1\ndisk_gb=1\ncolour='red'\n",
     "hosts[0].colour: unknown key"),
    ("hosts = [", "not valid TOML"),
    ("", "hosts: is required"),
]


@pytest.mark.parametrize("text,message", BAD)
def test_bad_inventory_is_one_clear_line(tmp_path, text, message):
    path = tmp_path / "hosts.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert message in str(err.value) and str(path) in str(err.value)
    assert "\n" not in str(err.value)


def _with(tmp_path, old, new):
    text = (ROOT / "hosts.toml").read_text()
    assert old in text
    path = tmp_path / "hosts.toml"
    path.write_text(text.replace(old, new, 1))
    return path


@pytest.mark.parametrize("old,new,message", [
    ('cidr = "10.0.0.0/24"', 'cidr = "10.0.0.0/33"', "network.cidr: '10.0.0.0/33' is not an IPv4 network"),
    ('name = "cmp2"', 'name = "cmp1"', "hosts: 'cmp1' is defined twice"),
    ('"ImagePropertiesFilter"]', '"MagicFilter"]', "scheduler.enabled_filters: unknown filter 'MagicFilter'"),
    ("cpu_allocation_ratio = 16.0", "cpu_allocation_ratio = 0", "scheduler.cpu_allocation_ratio: must be greater than 0"),
    ('name = "m1.small"', 'name = "m1.tiny"', "flavor 'm1.tiny' is defined twice"),
])
def test_bad_values_name_the_key(tmp_path, old, new, message):
    with pytest.raises(ConfigError, match=message.replace(".", r"\.").replace("(", r"\(").replace("'", "'")):
        load_config(_with(tmp_path, old, new))
