"""Neuromorphic event data (neurosim.io.events): each reader on small files written here by an
independent encoder of the published byte layout, the writers round-tripping, every damaged
file refused with the file and the problem named, the transforms against values worked out by
hand (and the denoising filter against a plain loop), and an N-MNIST-like sample driving a
network through a RasterSource population."""
import struct

import numpy as np
import pytest

import neurosim as ns
from neurosim.io import events as E

h5py = pytest.importorskip("h5py")


def camera(t, x, y, p):
    ev = np.zeros(len(t), E.EVENTS)
    ev["t"], ev["x"], ev["y"], ev["p"] = t, x, y, p
    return ev


def channels(t, c):
    ev = np.zeros(len(t), E.CHANNEL_EVENTS)
    ev["t"], ev["channel"] = t, c
    return ev


# ----------------------------------------------------------------------------- independent writers

def nmnist_bytes(records) -> bytes:
    """Each (x, y, p, t) as one 40-bit big-endian number: x in bits 39-32, y in 31-24, the
    polarity in bit 23, the time (us) in bits 22-0 (Orchard et al. 2015's layout)."""
    return b"".join(((x << 32) | (y << 24) | (p << 23) | t).to_bytes(5, "big") for x, y, p, t in records)


# 105 bytes
AEDAT_HEADER = b"#!AER-DAT3.1\r\n#Format: RAW\r\n#Source 1: DVS128\r\n#Start-Time: 2017-01-01 10:00:00 (TZ+0000)\r\n" \
               b"#!END-HEADER\r\n"


def aedat_packet(events, etype=1, overflow=0, size=8, ts_offset=4, capacity=None, number=None, valid=None) -> bytes:
    """A packet: the 28-byte little-endian header, then each event (x, y, p, t, valid) as a data
    word (bit 0 valid, bit 1 polarity, bits 2-16 y, bits 17-31 x) and a 32-bit timestamp."""
    n = len(events)
    body = b"".join(struct.pack("<Ii", (x << 17) | (y << 2) | (p << 1) | v, t) for x, y, p, t, v in events)
    head = struct.pack("<hhiiiiii", etype, 1, size, ts_offset, overflow, n if capacity is None else capacity,
                       n if number is None else number, sum(e[4] for e in events) if valid is None else valid)
    return head + body


def shd_file(path, times, units, labels, *, times_dtype=np.float32, skip=()):
    with h5py.File(path, "w") as f:
        if "spikes/times" not in skip:
            d = f.create_dataset("spikes/times", (len(times),), dtype=h5py.vlen_dtype(times_dtype))
            for i, t in enumerate(times):
                d[i] = np.asarray(t, times_dtype)
        if "spikes/units" not in skip:
            d = f.create_dataset("spikes/units", (len(units),), dtype=h5py.vlen_dtype(np.uint16))
            for i, u in enumerate(units):
                d[i] = np.asarray(u, np.uint16)
        if "labels" not in skip:
            f["labels"] = np.asarray(labels, np.uint16)
        f["extra/speaker"] = np.zeros(len(labels), np.uint16)
    return path


# ----------------------------------------------------------------------------- N-MNIST

def test_nmnist_reads_the_40_bit_records(tmp_path):
    records = [(0, 0, 0, 0), (33, 1, 1, 1), (5, 7, 1, 0x010203), (12, 33, 0, 2 ** 23 - 1), (33, 33, 1, 300_000)]
    path = tmp_path / "00002.bin"
    path.write_bytes(nmnist_bytes(records))
    assert path.read_bytes()[10:15] == b"\x05\x07\x81\x02\x03"        # the layout written out by hand
    ev, sensor = ns.io.read_nmnist(path)
    assert sensor == (34, 34) and ev.dtype == E.EVENTS
    assert ev["x"].tolist() == [r[0] for r in records] and ev["y"].tolist() == [r[1] for r in records]
    assert ev["p"].tolist() == [r[2] for r in records] and ev["t"].tolist() == [r[3] for r in records]


def test_nmnist_overflow_marker_advances_the_clock(tmp_path):
    # y = 240: not an event; it and every later record get 2**13 us more (the authors' reader)
    path = tmp_path / "s.bin"
    path.write_bytes(nmnist_bytes([(1, 1, 1, 100), (0, 240, 0, 0), (2, 2, 0, 50), (0, 240, 0, 0), (3, 3, 1, 7)]))
    ev = ns.io.read_nmnist(path).events
    assert ev["t"].tolist() == [100, 50 + 8192, 7 + 2 * 8192] and ev["x"].tolist() == [1, 2, 3]


def test_nmnist_round_trip_and_writer_bytes(tmp_path):
    rng = np.random.default_rng(1)
    ev = camera(np.sort(rng.integers(0, 2 ** 23, 500)), rng.integers(0, 34, 500), rng.integers(0, 34, 500),
                rng.integers(0, 2, 500))
    path = ns.io.write_nmnist(tmp_path / "w.bin", ev)
    assert path.read_bytes() == nmnist_bytes(zip(*(ev[k].tolist() for k in "xypt")))
    back = ns.io.read_nmnist(path)
    np.testing.assert_array_equal(back.events, ev)
    with pytest.raises(ValueError, match=r"write_nmnist: event 0 has t = 8388608, which the format cannot hold"):
        ns.io.write_nmnist(tmp_path / "x.bin", camera([2 ** 23], [0], [0], [0]))
    with pytest.raises(ValueError, match=r"y = 240.*240 marks a timestamp overflow"):
        ns.io.write_nmnist(tmp_path / "x.bin", camera([0], [0], [240], [0]))


def test_nmnist_larger_sensor(tmp_path):
    path = tmp_path / "caltech.bin"
    path.write_bytes(nmnist_bytes([(200, 150, 1, 10)]))
    with pytest.raises(ValueError, match=r"record 0 \(bytes 0-4\) has x = 200, y = 150"):
        ns.io.read_nmnist(path)
    assert ns.io.read_nmnist(path, sensor_size=(240, 180)).events["x"].tolist() == [200]


def test_nmnist_bad_files(tmp_path):
    empty = tmp_path / "empty.bin"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match=r"read_nmnist: '.*empty.bin' is not an N-MNIST event file .*\(an empty file\)"):
        ns.io.read_nmnist(empty)
    cut = tmp_path / "cut.bin"
    cut.write_bytes(nmnist_bytes([(1, 1, 1, 1), (2, 2, 0, 2)])[:-2])
    with pytest.raises(ValueError, match=r"'.*cut.bin' .*\(8 bytes is not a whole number of 5-byte records: 1 records "
                                         r"and 3 byte\(s\) over"):
        ns.io.read_nmnist(cut)
    beyond = tmp_path / "beyond.bin"
    beyond.write_bytes(nmnist_bytes([(1, 1, 1, 1), (2, 2, 0, 2), (3, 34, 1, 3), (40, 0, 1, 4)]))
    with pytest.raises(ValueError, match=r"'.*beyond.bin' is not an N-MNIST event file of a 34 x 34 sensor \(record 2 "
                                         r"\(bytes 10-14\) has x = 3, y = 34; x must be < 34 and y < 34; 2 record"):
        ns.io.read_nmnist(beyond)
    with pytest.raises(ValueError, match=r"read_nmnist: no file"):
        ns.io.read_nmnist(tmp_path / "missing.bin")


# ----------------------------------------------------------------------------- AEDAT 3.1

def test_aedat_reads_polarity_packets(tmp_path):
    path = tmp_path / "user01_fluorescent.aedat"
    path.write_bytes(AEDAT_HEADER
                     + aedat_packet([(0, 0, 0, 0, 1), (7, 0, 1, 0, 0), (5, 9, 1, 0, 1)], etype=0)   # special: skipped
                     + aedat_packet([(1, 2, 1, 10, 1), (127, 127, 0, 20, 1), (3, 4, 1, 25, 0), (0, 5, 0, 30, 1)])
                     + aedat_packet([(6, 7, 1, 5, 1)], overflow=1))
    ev, sensor = ns.io.read_aedat(path)
    assert sensor == (128, 128) and ev.dtype == E.EVENTS
    assert ev["x"].tolist() == [1, 127, 0, 6] and ev["y"].tolist() == [2, 127, 5, 7]   # the invalid one dropped
    assert ev["p"].tolist() == [1, 0, 0, 1]
    assert ev["t"].tolist() == [10, 20, 30, 2 ** 31 + 5]                               # overflow << 31 | timestamp


def test_aedat_round_trip_and_packets(tmp_path):
    rng = np.random.default_rng(2)
    t = np.sort(np.concatenate([rng.integers(0, 2 ** 31, 300), rng.integers(2 ** 31, 2 ** 32, 48), [2 ** 32 + 3, 2 ** 32 + 7]]))
    ev = camera(t, rng.integers(0, 128, 350), rng.integers(0, 128, 350), rng.integers(0, 2, 350))
    path = ns.io.write_aedat(tmp_path / "w.aedat", ev, packet_events=100)
    np.testing.assert_array_equal(ns.io.read_aedat(path).events, ev)
    # the packets: split at 100 events and where the overflow count changes, each header consistent
    data = path.read_bytes()
    pos, sizes = data.index(b"#!END-HEADER\r\n") + 14, []
    while pos < len(data):
        etype, _, size, off, ovf, cap, num, val = struct.unpack_from("<hhiiiiii", data, pos)
        assert (etype, size, off) == (1, 8, 4) and cap == num == val
        sizes.append((num, ovf))
        pos += 28 + 8 * num
    assert pos == len(data) and sum(n for n, _ in sizes) == 350 and max(n for n, _ in sizes) == 100
    assert [o for _, o in sizes] == sorted(o for _, o in sizes) and sizes[-1][1] == 2


def test_aedat_bad_files(tmp_path):
    def refused(name, data, pattern):
        path = tmp_path / name
        path.write_bytes(data)
        with pytest.raises(ValueError, match=rf"read_aedat: '.*{name}' is not an AEDAT 3.1 file.* \({pattern}"):
            ns.io.read_aedat(path)

    good = aedat_packet([(1, 2, 1, 10, 1), (3, 4, 0, 20, 1)])
    refused("empty.aedat", b"", "an empty file")
    refused("v2.aedat", b"#!AER-DAT2.0\r\n# This is a raw AE data file\r\n" + good, r"it is AEDAT 2.0; this reader reads")
    refused("noversion.aedat", b"#Format: RAW\r\n#!END-HEADER\r\n" + good, r"it does not start with the version line")
    refused("noend.aedat", b"#!AER-DAT3.1\r\n#Format: RAW\r\n" + good,
            r"its header has no '#!END-HEADER' line: at byte 28 comes")
    refused("format.aedat", b"#!AER-DAT3.1\r\n#Format: SerializedTS\r\n#!END-HEADER\r\n" + good,
            r"its header line '#Format: SerializedTS' names a format other than RAW")
    refused("unended.aedat", b"#!AER-DAT3.1\r\n#Source 1: DVS", r"its header line at byte 14 never ends")
    refused("cut.aedat", AEDAT_HEADER + good[:-3], r"packet 0 at byte 105 \(eventType 1\) claims 2 events of 8 bytes "
                                                   r"\(16 bytes\), but only 13 bytes follow its header")
    refused("claims.aedat", AEDAT_HEADER + good + aedat_packet([(1, 1, 1, 1, 1)], number=5),
            r"packet 1 at byte 149 \(eventType 1\) has eventCapacity 1, eventNumber 5")
    refused("valid.aedat", AEDAT_HEADER + aedat_packet([(1, 1, 1, 1, 1)], valid=3), r"packet 0 at byte 105 .*eventValid 3")
    refused("size.aedat", AEDAT_HEADER + aedat_packet([(1, 1, 1, 1, 1)], size=6, ts_offset=2)[:-2],
            r"packet 0 at byte 105 \(eventType 1\) is a polarity packet with eventSize 6")
    refused("zero.aedat", AEDAT_HEADER + aedat_packet([], size=0), r"packet 0 at byte 105 \(eventType 1\) has eventSize 0")
    refused("short.aedat", AEDAT_HEADER + good + b"\x01\x00\x08", r"packet 1 at byte 149: its 28-byte header is cut short")
    path = tmp_path / "beyond.aedat"
    path.write_bytes(AEDAT_HEADER + good + aedat_packet([(1, 1, 1, 30, 1), (130, 4, 1, 31, 1)]))
    with pytest.raises(ValueError, match=r"'.*beyond.aedat' is not an AEDAT 3.1 file of a 128 x 128 sensor \(packet 1 at "
                                         r"byte 149 \(eventType 1\), event 1 \(byte 185\) has x = 130, y = 4"):
        ns.io.read_aedat(path)
    assert len(ns.io.read_aedat(path, sensor_size=(240, 180)).events) == 4


# ----------------------------------------------------------------------------- DVS Gesture labels

GESTURE_HEADER = "class,startTime_usec,endTime_usec"


def test_dvs_gesture_label_file_as_the_dataset_writes_it(tmp_path):
    # written by hand: CR LF line ends and a blank last line are accepted; classes 1-11 become 0-10
    path = tmp_path / "user01_fluorescent_labels.csv"
    path.write_bytes(b"class,startTime_usec,endTime_usec\r\n1,80048239,85092709\r\n11,85092710,87500000\r\n"
                     b"8, 90000000 ,91000000\r\n\r\n")
    labels = ns.io.read_dvs_gesture_labels(path)
    assert labels.dtype == E.GESTURE_LABELS and labels.dtype.names == ("label", "start_us", "end_us")
    assert labels.tolist() == [(0, 80048239, 85092709), (10, 85092710, 87500000), (7, 90000000, 91000000)]
    assert [E.DVS_GESTURE_CLASSES[k] for k in labels["label"]] == ["hand clapping", "other gestures", "arm roll"]
    assert len(ns.io.DVS_GESTURE_CLASSES) == 11 and ns.io.DVS_GESTURE_CLASSES[3] == "right arm clockwise"
    header_only = tmp_path / "none_labels.csv"
    header_only.write_text(GESTURE_HEADER + "\n")
    assert len(ns.io.read_dvs_gesture_labels(header_only)) == 0


def test_dvs_gesture_recording_split_into_its_gestures(tmp_path):
    rng = np.random.default_rng(6)
    n = 3000
    t = np.sort(rng.integers(1_000_000, 9_000_000, n))
    ev = camera(t, rng.integers(0, 128, n), rng.integers(0, 128, n), rng.integers(0, 2, n))
    aedat = ns.io.write_aedat(tmp_path / "user07_led.aedat", ev, packet_events=500)
    rows = [(0, 1_500_000, 3_000_000), (4, 3_000_000, 4_200_000), (9, 4_000_000, 5_000_000),  # the last two overlap
            (10, 8_500_000, 9_500_000),                                                      # past the last event
            (2, 500_000, 1_200_000)]                                                         # before the first
    csv = ns.io.write_dvs_gesture_labels(tmp_path / "user07_led_labels.csv", rows)
    assert csv.read_text().splitlines() == [GESTURE_HEADER, "1,1500000,3000000", "5,3000000,4200000",
                                            "10,4000000,5000000", "11,8500000,9500000", "3,500000,1200000"]
    recording = ns.io.read_aedat(aedat)
    labels = ns.io.read_dvs_gesture_labels(csv)
    assert labels.tolist() == rows
    gestures = ns.io.split_gestures(recording.events, labels)
    kept = ns.io.split_gestures(recording.events, labels, relative=False)
    assert [label for _, label in gestures] == [label for _, label in kept] == [0, 4, 9, 10, 2]
    for (segment, _), (absolute, _), (_, start, end) in zip(gestures, kept, rows):
        expected = ev[(ev["t"] >= start) & (ev["t"] < end)]
        assert len(expected) > 0 and len(segment) == len(absolute) == len(expected)
        np.testing.assert_array_equal(absolute, expected)
        np.testing.assert_array_equal(segment["t"], expected["t"] - start)
        for k in "xyp":
            np.testing.assert_array_equal(segment[k], expected[k])
        assert segment["t"].min() >= 0 and segment["t"].max() < end - start
    assert sum(len(s) for s, _ in gestures[:2]) == int(((t >= 1_500_000) & (t < 4_200_000)).sum())   # [a, b) [b, c)
    np.testing.assert_array_equal(recording.events, ev)             # the recording itself is left as it was
    # a structured array goes back out as it came in, and to_raster takes a segment from t = 0
    again = ns.io.write_dvs_gesture_labels(tmp_path / "again.csv", labels)
    assert again.read_bytes() == csv.read_bytes()
    raster = ns.io.to_raster(gestures[0][0], recording.sensor_size, dt_us=100_000, n_steps=15)
    assert raster.sum() == len(gestures[0][0])


def test_dvs_gesture_label_file_refusals(tmp_path):
    def refused(name, text, pattern):
        path = tmp_path / name
        path.write_bytes(text.encode() if isinstance(text, str) else text)
        with pytest.raises(ValueError, match=rf"read_dvs_gesture_labels: '.*{name}' is not a DVS Gesture label file "
                                             rf"\({pattern}"):
            ns.io.read_dvs_gesture_labels(path)

    head = GESTURE_HEADER + "\n"
    refused("empty.csv", "", r"an empty file\)")
    refused("noheader.csv", "1,100,200\n2,300,400\n",
            r"line 1 is '1,100,200', not the header 'class,startTime_usec,endTime_usec'\)")
    refused("header.csv", "label,start,end\n1,100,200\n", r"line 1 is 'label,start,end', not the header")
    refused("fields.csv", head + "1,100,200\n2,300\n", r"line 3 is '2,300', not 3 integers")
    refused("float.csv", head + "1,100,200.5\n", r"line 2 is '1,100,200.5', not 3 integers")
    refused("text.csv", head + "1,100,200\n\nclapping,300,400\n", r"line 4 is 'clapping,300,400', not 3 integers")
    refused("twelve.csv", head + "1,100,200\n12,300,400\n", r"line 3 has class 12, outside 1-11\)")
    refused("zero.csv", head + "0,100,200\n", r"line 2 has class 0, outside 1-11\)")
    refused("order.csv", head + "1,100,200\n3,400,400\n", r"line 3 has end 400 us <= start 400 us")
    refused("negative.csv", head + "1,-100,200\n", r"line 2 has start -100 us and end 200 us; times lie in \[0, 2\*\*62\)")
    refused("huge.csv", head + "1,100,99999999999999999999\n", r"line 2 has start 100 us and end 99999999999999999999 us")
    refused("binary.csv", b"\x89\xff\x00\x01", r"byte 0 is not text")
    with pytest.raises(ValueError, match=r"read_dvs_gesture_labels: no file"):
        ns.io.read_dvs_gesture_labels(tmp_path / "missing.csv")


def test_dvs_gesture_writer_and_split_refusals(tmp_path):
    w = ns.io.write_dvs_gesture_labels
    with pytest.raises(ValueError, match=r"write_dvs_gesture_labels: labels row 1 has label 11, outside 0-10"):
        w(tmp_path / "x.csv", [(0, 0, 10), (11, 20, 30)])
    with pytest.raises(ValueError, match=r"labels row 0 has start -5 us and end 10 us; times lie in"):
        w(tmp_path / "x.csv", [(0, -5, 10)])
    with pytest.raises(ValueError, match=r"labels row 2 has end 20 us <= start 30 us"):
        w(tmp_path / "x.csv", [(0, 0, 10), (1, 10, 20), (2, 30, 20)])
    with pytest.raises(ValueError, match=r"labels must be rows of 3 integers .* of dtype float64 and shape \(1, 3\)"):
        w(tmp_path / "x.csv", [(0.0, 0.5, 10.0)])
    with pytest.raises(ValueError, match=r"labels must be rows of 3 integers .* shape \(1, 2\)"):
        w(tmp_path / "x.csv", [(0, 10)])
    assert not (tmp_path / "x.csv").exists()

    ev = camera([100, 200, 300], [1, 2, 3], [1, 2, 3], [1, 0, 1])
    with pytest.raises(ValueError, match=r"split_gestures: labels row 1 \(right arm clockwise, \[301, 400\) us\) lies "
                                         r"outside the recording, whose events span 100-300 us"):
        ns.io.split_gestures(ev, [(0, 0, 150), (3, 301, 400)])          # starts after the last event
    with pytest.raises(ValueError, match=r"labels row 0 \(hand clapping, \[0, 100\) us\) lies outside the recording"):
        ns.io.split_gestures(ev, [(0, 0, 100)])                           # ends where the first event is
    with pytest.raises(ValueError, match=r"labels row 0 .* lies outside the recording, which has no events"):
        ns.io.split_gestures(ev[:0], [(0, 0, 100)])
    with pytest.raises(ValueError, match=r"split_gestures: labels row 0 has label 11, outside 0-10"):
        ns.io.split_gestures(ev, [(11, 0, 100)])
    with pytest.raises(ValueError, match=r"split_gestures: events must be a 1-D structured array"):
        ns.io.split_gestures(np.arange(3), [(0, 0, 100)])
    # overlapping the span in part: the events there are (from 300, the last: [0]); none inside: empty
    cut = ns.io.split_gestures(ev, [(0, 250, 301), (1, 300, 900), (2, 110, 190)])
    assert [s["t"].tolist() for s, _ in cut] == [[50], [0], []] and [s.dtype for s, _ in cut] == [E.EVENTS] * 3


# ----------------------------------------------------------------------------- SHD

def test_shd_whole_and_lazy(tmp_path):
    times = [[0.0, 0.5, 0.25], [], [1.0]]
    units = [[0, 699, 3], [], [42]]
    path = shd_file(tmp_path / "shd_train.h5", times, units, [3, 19, 0])
    whole = ns.io.read_shd(path)
    assert whole.sensor_size == (700,) and whole.labels.tolist() == [3, 19, 0]
    assert [e.dtype for e in whole.events] == [E.CHANNEL_EVENTS] * 3
    assert whole.events[0]["t"].tolist() == [0, 500_000, 250_000] and whole.events[0]["channel"].tolist() == [0, 699, 3]
    assert len(whole.events[1]) == 0 and whole.events[2].tolist() == [(1_000_000, 42)]
    with ns.io.open_shd(path) as f:
        assert len(f) == 3 and f.labels.tolist() == [3, 19, 0]
        ev, label = f[2]
        assert label == 0 and ev.tolist() == [(1_000_000, 42)]
        assert f[-3][0].tolist() == whole.events[0].tolist()
        assert [lab for _, lab in f] == [3, 19, 0]
        with pytest.raises(IndexError, match="sample 3 of a file of 3 samples"):
            f[3]


def test_shd_round_trip(tmp_path):
    rng = np.random.default_rng(3)
    samples = [channels(np.sort(rng.integers(0, 1_400_000, n)), rng.integers(0, 700, n)) for n in (5, 0, 300)]
    path = ns.io.write_shd(tmp_path / "w.h5", samples, [1, 2, 3])
    back = ns.io.read_shd(path)
    assert back.labels.tolist() == [1, 2, 3]
    for a, b in zip(samples, back.events):
        np.testing.assert_array_equal(a, b)


def test_shd_bad_files(tmp_path):
    def refused(name, pattern, reader=ns.io.read_shd, **kw):
        path = shd_file(tmp_path / name, **{"times": [[0.1, 0.2]], "units": [[1, 2]], "labels": [0], **kw})
        with pytest.raises(ValueError, match=rf"{reader.__name__}: '.*{name}' is not an SHD file .*\({pattern}"):
            with reader(path) as f:
                f[0]

    refused("nolabels.h5", r"it has no dataset labels; its top level holds \['extra', 'spikes'\]",
            skip=("labels",))
    refused("nounits.h5", "it has no dataset spikes/units", skip=("spikes/units",))
    refused("label.h5", r"its labels\[1\] = 20 lies outside the classes 0-19 \(n_classes=20\)",
            times=[[0.1], [0.2]], units=[[1], [2]], labels=[19, 20])
    refused("counts.h5", "its spikes/times, spikes/units and labels hold 1, 1 and 2 samples", labels=[0, 1])
    refused("unit.h5", r"its sample 0, spike 1 is of unit 700, outside the 700 channels \(0-699\)",
            reader=ns.io.open_shd, units=[[1, 700]])
    refused("mismatch.h5", "its sample 0 has 2 spike times but 1 units", reader=ns.io.open_shd, units=[[1]])
    refused("negative.h5", r"its sample 0, spike 0 is at t = -0.1.* s; finite times >= 0", reader=ns.io.open_shd,
            times=[[-0.1, 0.2]])
    with pytest.raises(ValueError, match=r"read_shd: '.*' is not an SHD file .*\(an empty file\)"):
        (tmp_path / "empty.h5").write_bytes(b"")
        ns.io.read_shd(tmp_path / "empty.h5")
    # the Spiking Speech Commands share the layout, with 35 classes
    path = shd_file(tmp_path / "ssc.h5", [[0.1]], [[1]], [30])
    assert ns.io.read_shd(path, n_classes=35).labels.tolist() == [30]


# ----------------------------------------------------------------------------- transforms

def test_to_raster_by_hand():
    # a 3 x 2 sensor: index p * 6 + y * 3 + x
    ev = camera([0, 999, 1000, 1500, 2500, 9000, -5], [0, 0, 2, 2, 1, 0, 0], [0, 0, 1, 1, 0, 0, 0], [1, 1, 0, 0, 1, 0, 0])
    r = ns.io.to_raster(ev, (3, 2), dt_us=1000, t_start=0)
    assert r.dtype == np.float32 and r.shape == (10, 12)     # long enough for t = 9000; t = -5 is before t_start
    expected = np.zeros((10, 12), np.float32)
    expected[0, 6] = 2          # (0, 0) ON twice in [0, 1000)
    expected[1, 5] = 2          # (2, 1) OFF at 1000 and 1500
    expected[2, 7] = 1          # (1, 0) ON at 2500
    expected[9, 0] = 1          # (0, 0) OFF at 9000
    np.testing.assert_array_equal(r, expected)
    np.testing.assert_array_equal(ns.io.to_raster(ev, (3, 2), 1000, binary=True), np.minimum(expected, 1))
    merged = ns.io.to_raster(ev, (3, 2), 1000, n_steps=3, channels="merge")      # later events cut off
    np.testing.assert_array_equal(merged, expected[:3, :6] + expected[:3, 6:])
    shifted = ns.io.to_raster(ev, (3, 2), 500, n_steps=4, t_start=1000)           # [1000, 1500), [1500, 2000), ...
    assert shifted[0, 5] == shifted[1, 5] == 1 and shifted[3, 7] == 1 and shifted.sum() == 3
    # a cochlea: the index is the channel
    audio = ns.io.to_raster(channels([0, 10, 10, 25], [699, 0, 0, 3]), (700,), dt_us=10)
    assert audio.shape == (3, 700) and audio[0, 699] == 1 and audio[1, 0] == 2 and audio[2, 3] == 1
    # the index flattens a (2, H, W) frame
    rng = np.random.default_rng(0)
    ev = camera(rng.integers(0, 100, 200), rng.integers(0, 5, 200), rng.integers(0, 4, 200), rng.integers(0, 2, 200))
    frames = np.zeros((1, 2, 4, 5))
    np.add.at(frames, (0, ev["p"], ev["y"], ev["x"]), 1)
    np.testing.assert_array_equal(ns.io.to_raster(ev, (5, 4), 100), frames.reshape(1, -1))


def test_to_raster_refusals():
    ev = camera([0, 5], [1, 40], [2, 2], [1, 0])
    with pytest.raises(ValueError, match=r"to_raster: event 1 has x = 40, y = 2, outside the 34 x 34 sensor"):
        ns.io.to_raster(ev, (34, 34), 1000)
    ok = ev[:1]
    for kw, pattern in [(dict(dt_us=0), "dt_us must be a positive finite number"),
                        (dict(dt_us=1, channels="rgb"), "channels must be 'polarity'"),
                        (dict(dt_us=1, n_steps=0), "n_steps must be an integer >= 1"),
                        (dict(dt_us=1, t_start=10), "no event at or after t_start = 10 us")]:
        with pytest.raises(ValueError, match=rf"to_raster: {pattern}"):
            ns.io.to_raster(ok, (34, 34), **kw)
    with pytest.raises(ValueError, match=r"to_raster: events must be a 1-D structured array"):
        ns.io.to_raster(np.zeros((3, 4)), (34, 34), 1)
    with pytest.raises(ValueError, match=r"to_raster: sensor_size must be"):
        ns.io.to_raster(ok, (34, -1), 1)
    with pytest.raises(ValueError, match=r"channel events \(t, channel\) need sensor_size=\(n_channels,\)"):
        ns.io.to_raster(channels([0], [1]), (34, 34), 1)


def denoise_loop(ev, window):
    """The filter as a plain loop over the events in time order (the definition)."""
    order = np.argsort(ev["t"], kind="stable")
    last = {}
    keep = np.zeros(len(ev), bool)
    cam = "x" in ev.dtype.names
    for i in order:
        t = int(ev["t"][i])
        x, y = (int(ev["x"][i]), int(ev["y"][i])) if cam else (int(ev["channel"][i]), 0)
        around = [(x - 1, y), (x + 1, y), (x, y - 1), (x, y + 1)] if cam else [(x - 1, 0), (x + 1, 0)]
        keep[i] = any(q in last and t - last[q] < window for q in around)
        last[(x, y)] = t
    return ev[keep]


def test_denoise_by_hand():
    ev = camera([0, 100, 150, 5000, 5050, 9000, 9001, 20000],
                [5, 6, 9, 9, 9, 0, 0, 6],
                [5, 5, 9, 9, 9, 0, 1, 5],
                [1, 0, 1, 1, 1, 0, 1, 1])
    # (6,5) at 100: neighbour (5,5) fired at 0 -> kept; (9,9) alone and a hot pixel repeating -> gone;
    # (0,1) at 9001: (0,0) at 9000 -> kept; (0,0) at 9000 had no earlier neighbour -> gone;
    # (6,5) at 20000: (5,5) fired 20000 us ago, beyond 1000 -> gone
    out = ns.io.denoise(ev, 1000)
    assert out["t"].tolist() == [100, 9001]
    assert ns.io.denoise(ev, 20001)["t"].tolist() == [100, 9001, 20000]
    assert ns.io.denoise(ev, 100)["t"].tolist() == [9001]       # 100 - 0 is not < 100


def test_denoise_matches_the_loop():
    rng = np.random.default_rng(4)
    for n, kind in ((2000, "camera"), (500, "channel")):
        t = rng.integers(0, 50_000, n)           # unsorted, with ties
        ev = (camera(t, rng.integers(0, 20, n), rng.integers(0, 20, n), rng.integers(0, 2, n)) if kind == "camera"
              else channels(t, rng.integers(0, 50, n)))
        for window in (50, 500, 3000):
            np.testing.assert_array_equal(ns.io.denoise(ev, window), denoise_loop(ev, window))
    assert len(ns.io.denoise(camera([], [], [], []), 10)) == 0


def test_time_surface_by_hand():
    ev = camera([0, 100, 200, 300], [1, 1, 0, 2], [0, 0, 1, 1], [1, 1, 0, 1])
    s = ns.io.time_surface(ev, (3, 2), tau_us=100.0, t=250)
    assert s.shape == (2, 2, 3) and s.dtype == np.float32
    expected = np.zeros((2, 2, 3))
    expected[1, 0, 1] = np.exp(-150 / 100)      # ON at (1, 0), last at 100
    expected[0, 1, 0] = np.exp(-50 / 100)       # OFF at (0, 1) at 200; the event at 300 is still to come
    np.testing.assert_allclose(s, expected, rtol=1e-6)
    merged = ns.io.time_surface(ev, (3, 2), 100.0, 300, channels="merge")
    assert merged.shape == (2, 3) and merged[1, 2] == 1.0
    np.testing.assert_allclose(merged[[0, 1], [1, 0]], np.exp([-2.0, -1.0]), rtol=1e-6)
    audio = ns.io.time_surface(channels([0, 50], [2, 2]), (4,), 10.0, 60)
    np.testing.assert_allclose(audio, [0, 0, np.exp(-1.0), 0], rtol=1e-6)


def test_crop_and_downsample():
    ev = camera([0, 1, 2, 3], [0, 10, 12, 33], [0, 11, 20, 33], [1, 0, 1, 1])
    out, sensor = ns.io.crop(ev, (34, 34), origin=(10, 10), size=(5, 5))
    assert sensor == (5, 5) and out.tolist() == [(1, 0, 1, 0)]
    with pytest.raises(ValueError, match=r"crop: origin must be 2 integer\(s\) >= 0 placing the box of size \(5, 5\)"):
        ns.io.crop(ev, (34, 34), origin=(30, 0), size=(5, 5))
    out, sensor = ns.io.downsample(ev, (34, 34), 4)
    assert sensor == (9, 9) and out["x"].tolist() == [0, 2, 3, 8] and out["y"].tolist() == [0, 2, 5, 8]
    out, sensor = ns.io.downsample(channels([0, 1], [699, 5]), (700,), 10)
    assert sensor == (70,) and out["channel"].tolist() == [69, 0]


# ----------------------------------------------------------------------------- end to end

def test_nmnist_sample_drives_a_network(tmp_path):
    """An N-MNIST-like file -> raster -> a RasterSource population driving LIF neurons one to
    one: the input population spikes exactly as the raster says, and each input spike (1.5 nA
    jumps, well apart) makes its LIF neuron fire once."""
    from neurosim.builders import set_input_raster

    rng = np.random.default_rng(5)
    pixels = rng.choice(34 * 34, 60, replace=False)
    t = np.sort(rng.integers(0, 80_000, 60))
    records = [(int(q % 34), int(q // 34), int(rng.integers(0, 2)), int(tt)) for q, tt in zip(pixels, t)]
    records += [(x, y, 1 - p, tt + 40_000) for x, y, p, tt in records[:10] if tt < 50_000]   # a second, later spike
    path = tmp_path / "sample.bin"
    path.write_bytes(nmnist_bytes(sorted(records, key=lambda r: r[3])))
    events, sensor = ns.io.read_nmnist(path)
    dt, steps = 0.5, 200
    raster = ns.io.to_raster(events, sensor, dt_us=dt * 1000, n_steps=steps)
    assert raster.shape == (steps, 2 * 34 * 34) and raster.sum() == len(records)
    n = raster.shape[1]
    net = ns.Network([ns.Population("input", n, ns.builders.RasterSource(steps)), ns.Population("lif", n, ns.neurons.LIF())],
                     [ns.Projection("in_lif", "input", "lif", ns.events.one_to_one(n), 1500.0)])
    params = net.params()
    state = set_input_raster(ns.init_state(net, params, 0, dt), raster)
    res = ns.simulate(net, steps * dt, dt, state=state, monitors=[ns.Spikes("input"), ns.Spikes("lif")], progress=False)
    t_in, id_in = (np.asarray(a) for a in res.spikes["input"])
    t_lif, id_lif = (np.asarray(a) for a in res.spikes["lif"])
    per_input = raster.sum(axis=0).astype(int)
    np.testing.assert_array_equal(np.bincount(id_in, minlength=n), per_input)
    np.testing.assert_array_equal(np.bincount(id_lif, minlength=n), per_input)
    rows, cols = np.nonzero(raster)
    np.testing.assert_allclose(np.sort(t_in), np.sort(rows * dt))          # row k: the spikes of step k, at k dt
    assert t_lif.min() > t_in.min()


def test_a_float_time_is_refused_and_fractional_bins_are_exact():
    # review: float seconds were truncated to 0 us silently; dt_us = 0.1 put events one row early
    ev = np.zeros(3, dtype=[("t", "f8"), ("x", "u2"), ("y", "u2"), ("p", "i1")])
    ev["t"] = [0.0005, 0.0015, 0.0025]
    with pytest.raises(ValueError, match=r"events\['t'\] must be integer microseconds"):
        ns.io.to_raster(ev, (4, 1), dt_us=1000, channels="merge")
    ev = np.zeros(3, dtype=[("t", "i8"), ("x", "u2"), ("y", "u2"), ("p", "i1")])
    ev["t"] = [3, 7, 10]
    raster = ns.io.to_raster(ev, (4, 1), dt_us=0.1, channels="merge")
    assert raster.shape[0] == 101 and list(np.nonzero(raster[:, 0])[0]) == [30, 70, 100]
    ev["t"] = [0, 1000, 2010]
    raster = ns.io.to_raster(ev, (4, 1), dt_us=2.01 * 1000, channels="merge")   # 2010.0000000000002 us
    assert list(np.nonzero(raster[:, 0])[0]) == [0, 1]
