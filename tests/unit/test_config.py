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


LIMIT = "must be at most"


@pytest.mark.parametrize("old,new,message", [
    ("disk_gb = 1\n", "disk_gb = 2147483648\n",
     "flavors[0].disk_gb: must be at most 2147483647 (Nova's limit)"),
    ("vcpus = 1\n", "vcpus = 2147483648\n", f"flavors[0].vcpus: {LIMIT} 2147483647"),
    ("memory_mb = 16384", "memory_mb = 9223372036854775807", f"hosts[0].memory_mb: {LIMIT}"),
    ("disk_gb = 200", "disk_gb = 99999999999999999999", f"hosts[0].disk_gb: {LIMIT}"),
    ("size_mb = 2", "size_mb = 1048577", f"images[1].size_mb: {LIMIT} 1048576 (1 TiB)"),
    ("cpu_allocation_ratio = 16.0", "cpu_allocation_ratio = inf", "must be a finite number, not inf"),
    ("ram_allocation_ratio = 1.5", "ram_allocation_ratio = nan", "must be a finite number, not nan"),
    ("disk_allocation_ratio = 1.0", "disk_allocation_ratio = 1" + "0" * 400,
     "scheduler.disk_allocation_ratio: is too large"),
    ("max_attempts = 3", "max_attempts = 4294967296", f"scheduler.max_attempts: {LIMIT} 2147483647"),
    ("shelved_offload_time = 0", "shelved_offload_time = -2", "must be -1 (never), 0 (at once)"),
    ("resize_confirm_window = 0", "resize_confirm_window = 99999999999", f"{LIMIT} 31536000 (a year)"),
    ("sync_power_state_interval = 60", "sync_power_state_interval = 1e300", f"{LIMIT} 31536000"),
    ("RAMWeigher = 1.0", "RAMWeigher = nan", "multiplier of RAMWeigher must be a finite number"),
    ('hw_architecture = "x86_64"', "hw_architecture = 1979-05-27",
     "images[1].properties.hw_architecture: must be a string"),
    ('name = "cmp1"\nuri = "test:///"', 'name = "cmp1"\nuri = "test:///\\u0000"',
     "hosts[0].uri: must not contain control characters"),
    ('cidr = "10.0.0.0/24"', r'cidr = "10.0.0.0/24\n"',
     "network.cidr: must not contain control characters"),
    ("ram_mb = 512", "ram_mb = " + "9" * 5000, "not valid TOML: Exceeds the limit (4300 digits)"),
    ("[network]", "deep = " + "[" * 2000 + "]" * 2000 + "\n[network]", "nested too deeply"),
])
def test_numbers_are_bounded_and_strings_plain(tmp_path, old, new, message):
    with pytest.raises(ConfigError) as err:
        load_config(_with(tmp_path, old, new))
    assert message in err.value.message and "\n" not in err.value.message, err.value.message
    assert len(err.value.message) < 300


def test_an_unprintable_key_is_shown_quoted_on_one_line(tmp_path):
    with pytest.raises(ConfigError, match=r"hosts\[0\]\.'na\\nme': unknown key"):
        load_config(_with(tmp_path, 'name = "cmp1"', 'name = "cmp1"\n"na\\nme" = 1'))


@pytest.mark.parametrize("content,message", [
    (b"\xff\xfe" + "x = 1".encode("utf-16-le"), "is not UTF-8 text (byte 0 is 0xff)"),
    ("# caf\u00e9\n".encode("latin-1"), "is not UTF-8 text (byte 5 is 0xe9)"),
    (b"#" * (1 << 20) + b"\n", "is larger than 1 MiB"),
])
def test_an_inventory_that_is_not_small_utf8_text_is_refused(tmp_path, content, message):
    path = tmp_path / "hosts.toml"
    path.write_bytes(content)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert err.value.message.startswith(f"{path} {message}")


def test_a_utf8_inventory_with_a_byte_order_mark_loads(tmp_path):
    path = tmp_path / "hosts.toml"
    path.write_bytes(b"\xef\xbb\xbf" + (ROOT / "hosts.toml").read_bytes())
    assert load_config(path).hosts[0].name == "cmp1"


@pytest.mark.parametrize("url,message", [
    ("redis://h:6379/0", "messaging.transport_url: expected rabbit://USER:PASS@HOST:PORT/"),
    ("rabbit://u:secret@/", "messaging.transport_url: names no broker host"),
    ("127.0.0.1:5672", "messaging.transport_url: expected rabbit://"),
])
def test_bad_transport_url_is_one_clear_line(tmp_path, url, message):
    path = tmp_path / "hosts.toml"
    path.write_text((ROOT / "hosts.toml").read_text() + f'\n[messaging]\ntransport_url = "{url}"\n')
    with pytest.raises(ConfigError) as e:
        load_config(path)
    assert message in str(e.value) and "\n" not in str(e.value) and "secret" not in str(e.value)


def test_the_broker_is_optional_and_spelled_as_oslo_messaging_spells_it(tmp_path):
    from core.bus_broker import kombu_url
    assert load_config(ROOT / "hosts.toml").transport_url is None
    path = tmp_path / "hosts.toml"
    url = "rabbit://nova:pw@10.0.0.5:5672/"
    path.write_text((ROOT / "hosts.toml").read_text() + f'\n[messaging]\ntransport_url = "{url}"\n')
    assert load_config(path).transport_url == url
    assert kombu_url(url) == "amqp://nova:pw@10.0.0.5:5672/"
