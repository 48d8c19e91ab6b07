"""Neuromorphic event data: readers of three formats the field's datasets come in, and the
transforms that turn an event stream into the rasters neurosim's networks and training layers
take. Everything is numpy; nothing is downloaded.

    rec = ns.io.read_nmnist("00002.bin")                  # Recording(events, sensor_size=(34, 34))
    clean = ns.io.denoise(rec.events, 5000)               # background-activity filter, 5 ms
    raster = ns.io.to_raster(clean, rec.sensor_size, dt_us=1000)   # (T, 2 * 34 * 34) counts

**Events** are one structured numpy array in file order:

- a camera's (:data:`EVENTS`): ``t`` (int64, microseconds), ``x``, ``y`` (uint16, pixels, the
  origin where the format puts it), ``p`` (int8, polarity: 1 ON, 0 OFF);
- a cochlea's (:data:`CHANNEL_EVENTS`, SHD): ``t`` (int64, microseconds) and ``channel`` (uint16).

A ``sensor_size`` is ``(width, height)`` for a camera and ``(n_channels,)`` for a cochlea.

**Readers** (each refuses a damaged file with a ValueError naming the reader, the file and what
is wrong, down to the record):

- :func:`read_nmnist`: the N-MNIST / N-Caltech101 binary format (Orchard et al. 2015), 40-bit
  records, sensor 34 x 34;
- :func:`read_aedat`: AEDAT 3.1 (iniVation's cAER, as DVS128 Gesture is recorded; Amir et al.
  2017): header lines, then event packets; polarity events are kept, sensor 128 x 128;
- :func:`read_dvs_gesture_labels`: the CSV label file beside each DVS128 Gesture recording
  (class, start and end in us), as a :data:`GESTURE_LABELS` array with 0-based labels
  (:data:`DVS_GESTURE_CLASSES` names them); :func:`split_gestures` cuts the recording's events
  into one segment per gesture;
- :func:`read_shd` and :func:`open_shd`: the Spiking Heidelberg Digits (Cramer et al. 2020),
  HDF5 (h5py, of the ``nwb`` extra), 700 channels and 20 classes; whole or a sample at a time.

:func:`write_nmnist`, :func:`write_aedat`, :func:`write_dvs_gesture_labels` and :func:`write_shd`
write the same formats (for tests, and for cutting a recording down).

**Transforms:** :func:`to_raster` (events binned into a (T, n_inputs) raster), :func:`denoise`
(the background-activity filter), :func:`time_surface` (the exponentially decaying time of each
pixel's last event), :func:`crop` and :func:`downsample`.
"""
from __future__ import annotations

import math
import re
import struct
from datetime import datetime, timezone
from typing import NamedTuple

import numpy as np

from .. import _checks
from .._files import _existing, bad_file, open_hdf5, write_atomically

EVENTS = np.dtype([("t", "<i8"), ("x", "<u2"), ("y", "<u2"), ("p", "i1")])
CHANNEL_EVENTS = np.dtype([("t", "<i8"), ("channel", "<u2")])

NMNIST_SENSOR = (34, 34)
DVS128_SENSOR = (128, 128)
SHD_CHANNELS = 700
SHD_CLASSES = 20

# DVS128 Gesture (Amir et al. 2017): the 11 classes, index 0 = the label files' class 1
DVS_GESTURE_CLASSES = ("hand clapping", "right hand wave", "left hand wave", "right arm clockwise",
                       "right arm counter-clockwise", "left arm clockwise", "left arm counter-clockwise", "arm roll",
                       "air drums", "air guitar", "other gestures")
GESTURE_LABELS = np.dtype([("label", "<i8"), ("start_us", "<i8"), ("end_us", "<i8")])
_GESTURE_HEADER = ("class", "startTime_usec", "endTime_usec")
_INTEGER = re.compile(r"[+-]?[0-9]+")

# N-MNIST: a record whose y byte is 240 marks a timestamp overflow in the dataset authors' own
# Python reader (eventvision.py): it adds 2**13 us to its own time and every later record's.
_NMNIST_OVERFLOW_Y = 240
_NMNIST_OVERFLOW_US = 2 ** 13
_NMNIST_MAX_T = 2 ** 23                      # 23 bits of microseconds: ~8.4 s

_AEDAT_VERSION = b"#!AER-DAT3.1"
_AEDAT_END = b"#!END-HEADER"
_AEDAT_PACKET = struct.Struct("<hhiiiiii")   # eventType, eventSource, eventSize, eventTSOffset,
#                                              eventTSOverflow, eventCapacity, eventNumber, eventValid
_AEDAT_POLARITY = 1
_AEDAT_TS_SHIFT = 31                         # t = eventTSOverflow << 31 | timestamp


class Recording(NamedTuple):
    """What a reader returns: ``events`` (a structured array of :data:`EVENTS` or
    :data:`CHANNEL_EVENTS`, in file order) and ``sensor_size`` (``(width, height)`` or
    ``(n_channels,)``). Unpacks as ``events, sensor_size = read_...(path)``."""

    events: np.ndarray
    sensor_size: tuple


class SHDSamples(NamedTuple):
    """What :func:`read_shd` returns: ``events`` (a list, one :data:`CHANNEL_EVENTS` array per
    sample), ``labels`` ((n_samples,) int64) and ``sensor_size`` (``(n_channels,)``)."""

    events: list
    labels: np.ndarray
    sensor_size: tuple


# ----------------------------------------------------------------------------- shared checks


def _read_bytes(path, who: str, kind: str) -> bytes:
    data = _existing(path, who).read_bytes()
    if not data:
        raise bad_file(who, path, kind, "an empty file")
    return data


def _sensor(sensor_size, who: str, dims=(1, 2), name: str = "sensor_size") -> tuple:
    """``sensor_size`` as a tuple of positive ints (of a length in ``dims``)."""
    try:
        size = tuple(sensor_size)
    except TypeError:
        size = None
    if size is None or len(size) not in dims or not all(
            isinstance(s, (int, np.integer)) and not isinstance(s, bool) and 0 < s <= 65536 for s in size):
        shape = " or ".join({1: "(n_channels,)", 2: "(width, height)"}[d] for d in dims)
        raise ValueError(f"{who}: {name} must be {shape} of positive integers (at most 65536), got {sensor_size!r}")
    return tuple(int(s) for s in size)


def _events(events, who: str) -> str:
    """``"camera"`` or ``"channel"``: which kind of structured event array ``events`` is."""
    names = getattr(getattr(events, "dtype", None), "names", None) or ()
    if isinstance(events, np.ndarray) and events.ndim == 1:
        kind = "camera" if {"t", "x", "y", "p"} <= set(names) else "channel" if {"t", "channel"} <= set(names) else None
        if kind is not None:
            if events.dtype["t"].kind not in "iu":     # float seconds would be truncated to 0 us, silently
                raise ValueError(f"{who}: events['t'] must be integer microseconds, got {events.dtype['t']} (times in "
                                 f"seconds? multiply by 1e6 and round)")
            return kind
    raise ValueError(f"{who}: events must be a 1-D structured array with fields (t, x, y, p) or (t, channel), as "
                     f"the readers of neurosim.io return, got "
                     f"{type(events).__name__}{' with fields ' + str(names) if names else ''}"
                     f"{' of shape ' + str(events.shape) if isinstance(events, np.ndarray) else ''}")


def _within(events, sensor: tuple, kind: str, who: str) -> None:
    """A ValueError naming the first event outside ``sensor`` (and a polarity not 0/1)."""
    if kind == "camera":
        if len(sensor) != 2:
            raise ValueError(f"{who}: camera events (t, x, y, p) need sensor_size=(width, height), got {sensor}")
        x, y = events["x"].astype(np.int64), events["y"].astype(np.int64)
        bad = np.flatnonzero((x >= sensor[0]) | (y >= sensor[1]) | (x < 0) | (y < 0))
        if bad.size:
            i = int(bad[0])
            raise ValueError(f"{who}: event {i} has x = {x[i]}, y = {y[i]}, outside the {sensor[0]} x {sensor[1]} sensor "
                             f"(x < {sensor[0]}, y < {sensor[1]}); {bad.size} event(s) are outside")
        p = events["p"]
        badp = np.flatnonzero((p != 0) & (p != 1))
        if badp.size:
            i = int(badp[0])
            raise ValueError(f"{who}: event {i} has polarity p = {p[i]}, where 0 (OFF) or 1 (ON) is expected")
    else:
        if len(sensor) != 1:
            raise ValueError(f"{who}: channel events (t, channel) need sensor_size=(n_channels,), got {sensor}")
        c = events["channel"].astype(np.int64)
        bad = np.flatnonzero((c >= sensor[0]) | (c < 0))
        if bad.size:
            i = int(bad[0])
            raise ValueError(f"{who}: event {i} has channel {c[i]}, outside the {sensor[0]} channels (0-{sensor[0] - 1})")


def _camera_events(t, x, y, p) -> np.ndarray:
    out = np.empty(len(t), EVENTS)
    out["t"], out["x"], out["y"], out["p"] = t, x, y, p
    return out


def _channel_events(t, channel) -> np.ndarray:
    out = np.empty(len(t), CHANNEL_EVENTS)
    out["t"], out["channel"] = t, channel
    return out


def _writable_camera(events, who: str) -> np.ndarray:
    if _events(events, who) != "camera":
        raise ValueError(f"{who}: events must be camera events with fields (t, x, y, p), got fields {events.dtype.names}")
    t = events["t"]
    if t.dtype.kind not in "iu":
        raise ValueError(f"{who}: events['t'] must be integer microseconds, got dtype {t.dtype}")
    return events


# ----------------------------------------------------------------------------- N-MNIST


def read_nmnist(path, sensor_size=NMNIST_SENSOR) -> Recording:
    """The events of an N-MNIST (or N-Caltech101) ``.bin`` file (Orchard et al. 2015).

    Each event is a 40-bit record of 5 bytes, read most significant byte first: byte 0 is ``x``,
    byte 1 is ``y``, the top bit of byte 2 is the polarity (1 ON, 0 OFF), and the remaining 23
    bits (the low 7 of byte 2, then bytes 3 and 4) are the time in microseconds. A record whose
    ``y`` byte is 240 is not an event but a timestamp-overflow marker, as the dataset authors'
    Python reader treats it: 2**13 us are added to it and every later record (N-MNIST samples
    last ~0.3 s and hold none). Returns a :class:`Recording` of :data:`EVENTS`.

    A file that is empty, not a whole number of records, or holds an event outside
    ``sensor_size`` (default 34 x 34; N-Caltech101 samples vary in size: pass theirs) is refused with a
    ValueError naming the record (its index and bytes) and its values."""
    who, kind = "read_nmnist", "an N-MNIST event file (5-byte records)"
    sensor = _sensor(sensor_size, who, dims=(2,))
    data = _read_bytes(path, who, kind)
    if len(data) % 5:
        raise bad_file(who, path, kind, f"{len(data)} bytes is not a whole number of 5-byte records: "
                                        f"{len(data) // 5} records and {len(data) % 5} byte(s) over; cut short?")
    rec = np.frombuffer(data, np.uint8).reshape(-1, 5).astype(np.int64)
    x, y = rec[:, 0], rec[:, 1]
    p = rec[:, 2] >> 7
    t = ((rec[:, 2] & 0x7F) << 16) | (rec[:, 3] << 8) | rec[:, 4]
    marker = y == _NMNIST_OVERFLOW_Y
    t = t + _NMNIST_OVERFLOW_US * np.cumsum(marker)
    beyond = np.flatnonzero(~marker & ((x >= sensor[0]) | (y >= sensor[1])))
    if beyond.size:
        i = int(beyond[0])
        raise bad_file(who, path, f"an N-MNIST event file of a {sensor[0]} x {sensor[1]} sensor",
                       f"record {i} (bytes {5 * i}-{5 * i + 4}) has x = {x[i]}, y = {y[i]}; x must be < {sensor[0]} "
                       f"and y < {sensor[1]}; {beyond.size} record(s) are outside: another sensor_size?")
    keep = ~marker
    return Recording(_camera_events(t[keep], x[keep], y[keep], p[keep]), sensor)


def write_nmnist(path, events):
    """Write camera ``events`` (:data:`EVENTS`) to ``path`` in the N-MNIST binary format of
    :func:`read_nmnist`, whole or not at all. ``x`` and ``y`` must fit a byte (``y`` = 240 is
    the overflow marker, refused), ``p`` be 0 or 1, and ``t`` lie in [0, 2**23) us. Returns the
    path."""
    who = "write_nmnist"
    events = _writable_camera(events, who)
    t, x, y, p = (events[k].astype(np.int64) for k in ("t", "x", "y", "p"))
    for name, v, hi in (("x", x, 256), ("y", y, 256), ("p", p, 2), ("t", t, _NMNIST_MAX_T)):
        bad = np.flatnonzero((v < 0) | (v >= hi) | ((name == "y") & (v == _NMNIST_OVERFLOW_Y)))
        if bad.size:
            i = int(bad[0])
            what = "(240 marks a timestamp overflow)" if name == "y" and v[i] == 240 else f"outside [0, {hi})"
            raise ValueError(f"{who}: event {i} has {name} = {v[i]}, which the format cannot hold {what}")
    rec = np.empty((len(t), 5), np.uint8)
    rec[:, 0], rec[:, 1] = x, y
    rec[:, 2] = (p << 7) | (t >> 16)
    rec[:, 3], rec[:, 4] = (t >> 8) & 0xFF, t & 0xFF
    return write_atomically(path, lambda f: f.write(rec.tobytes()), who)


# ----------------------------------------------------------------------------- AEDAT 3.1


def read_aedat(path, sensor_size=DVS128_SENSOR) -> Recording:
    """The polarity events of an AEDAT 3.1 file (iniVation's cAER; the DVS128 Gesture
    recordings of Amir et al. 2017). Returns a :class:`Recording` of :data:`EVENTS`.

    The file opens with header lines, each starting with ``#`` and ending in CR LF: first
    ``#!AER-DAT3.1``, last ``#!END-HEADER``. Event packets follow, all integers little-endian:
    a 28-byte header (int16 eventType, int16 eventSource, then int32 eventSize, eventTSOffset,
    eventTSOverflow, eventCapacity, eventNumber, eventValid) and eventNumber events of
    eventSize bytes. A polarity packet (eventType 1) holds 8-byte events: a 32-bit data word
    (bit 0 valid, bit 1 polarity, bits 2-16 ``y``, bits 17-31 ``x``) and a 32-bit timestamp
    (us); the event's time is ``eventTSOverflow << 31 | timestamp``. Events whose valid bit is 0
    are dropped, and packets of other types (special events, frames, IMU samples) skipped.

    Refused, naming the file and what is wrong: an empty file, a header that is not AEDAT 3.1's
    (another version, no end line, a format other than RAW), a packet header whose sizes do not
    add up (more bytes claimed than follow, capacity or valid count unlike the number of events,
    a polarity event not of 8 bytes), and a polarity event outside ``sensor_size`` (default
    128 x 128), named by its packet, index and byte offset."""
    who, kind = "read_aedat", "an AEDAT 3.1 file"
    sensor = _sensor(sensor_size, who, dims=(2,))
    data = _read_bytes(path, who, kind)

    def bad(why, what=kind):
        return bad_file(who, path, what, why)

    pos = _aedat_header(data, bad)
    ts, xs, ys, ps = [], [], [], []
    k = 0
    while pos < len(data):
        if len(data) - pos < _AEDAT_PACKET.size:
            raise bad(f"packet {k} at byte {pos}: its 28-byte header is cut short, {len(data) - pos} bytes are left")
        etype, _, size, ts_offset, overflow, capacity, number, valid = _AEDAT_PACKET.unpack_from(data, pos)
        where = f"packet {k} at byte {pos} (eventType {etype})"
        if size <= 0 or number < 0 or overflow < 0:
            raise bad(f"{where} has eventSize {size}, eventNumber {number}, eventTSOverflow {overflow}; "
                      "positive sizes and non-negative counts are expected")
        if capacity != number or not 0 <= valid <= number:
            raise bad(f"{where} has eventCapacity {capacity}, eventNumber {number}, eventValid {valid}; in a file the "
                      "capacity equals the number of events and at most that many are valid")
        if not 0 <= ts_offset <= size - 4:
            raise bad(f"{where} puts its timestamps at byte {ts_offset} of {size}-byte events")
        body = number * size
        if body > len(data) - pos - _AEDAT_PACKET.size:
            raise bad(f"{where} claims {number} events of {size} bytes ({body} bytes), but only "
                      f"{len(data) - pos - _AEDAT_PACKET.size} bytes follow its header: cut short?")
        if etype == _AEDAT_POLARITY:
            if size != 8 or ts_offset != 4:
                raise bad(f"{where} is a polarity packet with eventSize {size} and eventTSOffset {ts_offset}; polarity "
                          "events are 8 bytes, timestamp at byte 4")
            ev = np.frombuffer(data, "<u4", count=2 * number, offset=pos + _AEDAT_PACKET.size).reshape(number, 2)
            word, stamp = ev[:, 0].astype(np.int64), ev[:, 1].astype(np.int64)
            if np.any(stamp >= 2 ** 31):
                j = int(np.flatnonzero(stamp >= 2 ** 31)[0])
                raise bad(f"{where}, event {j} (byte {pos + 28 + 8 * j}) has a negative timestamp")
            keep = (word & 1) == 1
            x, y = (word >> 17) & 0x7FFF, (word >> 2) & 0x7FFF
            beyond = np.flatnonzero(keep & ((x >= sensor[0]) | (y >= sensor[1])))
            if beyond.size:
                j = int(beyond[0])
                raise bad(f"{where}, event {j} (byte {pos + 28 + 8 * j}) has x = {x[j]}, y = {y[j]}; x must be "
                          f"< {sensor[0]} and y < {sensor[1]}: another sensor_size?",
                          f"an AEDAT 3.1 file of a {sensor[0]} x {sensor[1]} sensor")
            ts.append((overflow << _AEDAT_TS_SHIFT) | stamp[keep])
            xs.append(x[keep])
            ys.append(y[keep])
            ps.append((word[keep] >> 1) & 1)
        pos += _AEDAT_PACKET.size + body
        k += 1
    cat = (lambda a: np.concatenate(a) if a else np.zeros(0, np.int64))
    return Recording(_camera_events(cat(ts), cat(xs), cat(ys), cat(ps)), sensor)


def _aedat_header(data: bytes, bad) -> int:
    """The byte at which the packets of an AEDAT 3.1 file start, its header checked."""
    first = data[:len(_AEDAT_VERSION)]
    if first != _AEDAT_VERSION:
        line = data.split(b"\n", 1)[0][:40].rstrip(b"\r")
        if line.startswith(b"#!AER-DAT"):
            version = line[len(b"#!AER-DAT"):].decode("ascii", "replace")
            raise bad(f"it is AEDAT {version}; this reader reads AEDAT 3.1 (convert with iniVation's DV)")
        raise bad(f"it does not start with the version line '#!AER-DAT3.1' but with {line!r}")
    pos = 0
    while True:
        if pos >= len(data) or data[pos:pos + 1] != b"#":
            raise bad(f"its header has no '#!END-HEADER' line: at byte {pos} comes "
                      f"{data[pos:pos + 16]!r}, not a header line starting with '#'")
        end = data.find(b"\n", pos)
        if end < 0:
            raise bad(f"its header line at byte {pos} never ends (no line feed): cut short?")
        line = data[pos:end].rstrip(b"\r")
        pos = end + 1
        if line == _AEDAT_END:
            return pos
        if line.startswith(b"#Format:") and line[len(b"#Format:"):].strip() != b"RAW":
            raise bad(f"its header line {line.decode('ascii', 'replace')!r} names a format other than RAW, the only "
                      "one this reader reads")


def write_aedat(path, events, *, source: str = "DVS128", packet_events: int = 4096):
    """Write camera ``events`` (:data:`EVENTS`, ``t`` >= 0) to ``path`` as an AEDAT 3.1 file of
    polarity packets (:func:`read_aedat`), at most ``packet_events`` events per packet, whole or
    not at all. ``x`` and ``y`` must fit 15 bits. Returns the path."""
    who = "write_aedat"
    events = _writable_camera(events, who)
    packet_events = _checks.integer_at_least(f"{who}: packet_events", packet_events)
    t, x, y, p = (events[k].astype(np.int64) for k in ("t", "x", "y", "p"))
    for name, v, hi in (("x", x, 2 ** 15), ("y", y, 2 ** 15), ("p", p, 2), ("t", t, 2 ** 62)):
        bad = np.flatnonzero((v < 0) | (v >= hi))
        if bad.size:
            i = int(bad[0])
            raise ValueError(f"{who}: event {i} has {name} = {v[i]}, outside [0, {hi}) that the format holds")
    if not all(32 <= ord(c) < 127 for c in source):
        raise ValueError(f"{who}: source must be printable ASCII, got {source!r}")
    start = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S (TZ%z)")
    header = (f"#!AER-DAT3.1\r\n#Format: RAW\r\n#Source 0: {source}\r\n#Start-Time: {start}\r\n"
              "#!END-HEADER\r\n").encode("ascii")
    word = ((x << 17) | (y << 2) | (p << 1) | 1).astype("<u4")
    overflow = t >> _AEDAT_TS_SHIFT
    stamp = (t & (2 ** _AEDAT_TS_SHIFT - 1)).astype("<u4")
    # a packet: consecutive events of one overflow count, at most packet_events of them
    cuts = np.flatnonzero(np.diff(overflow)) + 1
    bounds = sorted({0, len(t), *cuts.tolist(), *range(0, len(t), packet_events)})
    chunks = [header]
    for a, b in zip(bounds[:-1], bounds[1:]):
        n = b - a
        chunks.append(_AEDAT_PACKET.pack(_AEDAT_POLARITY, 0, 8, 4, int(overflow[a]), n, n, n))
        body = np.empty((n, 2), "<u4")
        body[:, 0], body[:, 1] = word[a:b], stamp[a:b]
        chunks.append(body.tobytes())
    return write_atomically(path, lambda f: f.write(b"".join(chunks)), who)


# ----------------------------------------------------------------------------- DVS Gesture labels


def _gesture_problem(cls: int, start: int, end: int, name: str, first: int):
    """What is wrong with one gesture ``(cls, start, end)`` (``name`` is "class", from ``first`` =
    1, in a file; "label", from 0, in an array), or None."""
    if not first <= cls < first + len(DVS_GESTURE_CLASSES):
        return f"{name} {cls}, outside {first}-{first + len(DVS_GESTURE_CLASSES) - 1}"
    if not (0 <= start < 2 ** 62 and 0 <= end < 2 ** 62):
        return f"start {start} us and end {end} us; times lie in [0, 2**62) us (the recording's clock)"
    if end <= start:
        return f"end {end} us <= start {start} us; a gesture ends after it starts"
    return None


def _gesture_labels(labels, who: str) -> np.ndarray:
    """``labels`` (:data:`GESTURE_LABELS`, or rows of 3 integers) as :data:`GESTURE_LABELS`, each
    row checked."""
    names = getattr(getattr(labels, "dtype", None), "names", None)
    if names is not None and set(GESTURE_LABELS.names) <= set(names):
        rows = np.stack([np.asarray(labels[k]) for k in GESTURE_LABELS.names], axis=-1)
    else:
        rows = np.asarray(labels)
    if rows.dtype.kind not in "iu" or rows.ndim != 2 or rows.shape[1] != 3:
        raise ValueError(f"{who}: labels must be rows of 3 integers (label 0-10, start_us, end_us), as "
                         f"read_dvs_gesture_labels returns, got {type(labels).__name__} of dtype {rows.dtype} and "
                         f"shape {rows.shape}")
    out = np.empty(len(rows), GESTURE_LABELS)
    for i, (label, start, end) in enumerate(rows.astype(np.int64).tolist()):
        problem = _gesture_problem(label, start, end, "label", 0)
        if problem:
            raise ValueError(f"{who}: labels row {i} has {problem}")
        out[i] = label, start, end
    return out


def read_dvs_gesture_labels(path) -> np.ndarray:
    """The gestures of a DVS128 Gesture label file, ``userXX_<lighting>_labels.csv`` (Amir et
    al. 2017): a :data:`GESTURE_LABELS` array, one row ``(label, start_us, end_us)`` per
    gesture, in file order.

    **The labels are 0-based:** the file's ``class`` 1-11 becomes ``label`` 0-10, the index of
    its name in :data:`DVS_GESTURE_CLASSES`. The times are kept as they are: microseconds on the
    clock of the recording's events (``read_aedat(userXX_<lighting>.aedat)``); a gesture is the
    events with ``start_us <= t < end_us`` (:func:`split_gestures`).

    The file is CSV text: the header line ``class,startTime_usec,endTime_usec``, then one line
    ``class,start,end`` of integers per gesture (blank lines and CR LF endings are accepted; a
    header alone is zero gestures). Refused with a ValueError naming the file, and the line
    (counted from 1, the header's) and its value: an empty file, a missing or other header, a
    line that is not 3 integers, a class outside 1-11, a time outside [0, 2**62) us, an end not
    after its start."""
    who, kind = "read_dvs_gesture_labels", "a DVS Gesture label file"
    data = _read_bytes(path, who, kind)

    def bad(why):
        return bad_file(who, path, kind, why)

    try:
        lines = data.decode("utf-8-sig").splitlines()
    except UnicodeDecodeError as e:
        raise bad(f"byte {e.start} is not text (UTF-8): not a CSV file?") from None
    first = lines[0] if lines else ""
    if [f.strip() for f in first.split(",")] != list(_GESTURE_HEADER):
        raise bad(f"line 1 is {first[:60]!r}, not the header {','.join(_GESTURE_HEADER)!r}")
    rows = []
    for n, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        fields = [f.strip() for f in line.split(",")]
        if len(fields) != 3 or not all(_INTEGER.fullmatch(f) for f in fields):
            raise bad(f"line {n} is {line[:60]!r}, not 3 integers (class, startTime_usec, endTime_usec)")
        cls, start, end = (int(f) for f in fields)
        problem = _gesture_problem(cls, start, end, "class", 1)
        if problem:
            raise bad(f"line {n} has {problem}")
        rows.append((cls - 1, start, end))
    return np.array(rows, GESTURE_LABELS)


def write_dvs_gesture_labels(path, labels):
    """Write ``labels`` (a :data:`GESTURE_LABELS` array, or rows of 3 integers ``(label,
    start_us, end_us)``, the label 0-based as :func:`read_dvs_gesture_labels` returns it) to
    ``path`` as a DVS Gesture label file, the class written as ``label + 1``, whole or not at
    all. Labels that file could not hold (a label outside 0-10, a time outside [0, 2**62) us,
    an end not after its start) are refused, naming the row. Returns the path."""
    who = "write_dvs_gesture_labels"
    rows = _gesture_labels(labels, who)
    text = "".join([",".join(_GESTURE_HEADER) + "\n"]
                   + [f"{label + 1},{start},{end}\n" for label, start, end in rows.tolist()])
    return write_atomically(path, lambda f: f.write(text.encode("ascii")), who)


def split_gestures(events, labels, *, relative: bool = True) -> list[tuple[np.ndarray, int]]:
    """The ``events`` of a recording cut into its gestures: ``[(segment, label), ...]``, one per
    row of ``labels`` (:func:`read_dvs_gesture_labels`), in their order. A segment holds the
    events with ``start_us <= t < end_us``, in their given order (a copy); with
    ``relative=True`` (the default) its times are shifted to start at the gesture's start,
    ``t - start_us``, ready for :func:`to_raster` with ``t_start=0``; ``relative=False`` keeps the
    recording's clock. ``label`` is the 0-based int of the row.

    Gestures may overlap (each takes its own events). A row whose interval lies entirely
    outside the time span of ``events`` (the labels of another recording, or times in other
    units) is refused, naming the row; one that overlaps the span only in part gives the
    events there are."""
    who = "split_gestures"
    _events(events, who)
    rows = _gesture_labels(labels, who)
    t = events["t"].astype(np.int64)
    first, last = (int(t.min()), int(t.max())) if len(t) else (None, None)
    out = []
    for i, (label, start, end) in enumerate(rows.tolist()):
        if first is None or end <= first or start > last:
            span = f"whose events span {first}-{last} us" if first is not None else "which has no events"
            raise ValueError(f"{who}: labels row {i} ({DVS_GESTURE_CLASSES[label]}, [{start}, {end}) us) lies outside "
                             f"the recording, {span}: the labels of another recording?")
        segment = events[(t >= start) & (t < end)]
        if relative:
            segment["t"] -= start
        out.append((segment, label))
    return out


# ----------------------------------------------------------------------------- SHD (HDF5)


class SHDFile:
    """An SHD file (Cramer et al. 2020) open for reading one sample at a time: ``len(f)``,
    ``f[i] -> (events, label)`` (:data:`CHANNEL_EVENTS`, times rounded to us), iteration,
    ``f.labels``, ``f.sensor_size`` (``(n_channels,)``); a context manager (or call
    :meth:`close`). Made by :func:`open_shd`, which checks the layout and the labels on opening;
    each sample is checked as it is read."""

    def __init__(self, path, n_channels: int = SHD_CHANNELS, n_classes: int = SHD_CLASSES, *, _who: str = "open_shd"):
        self.path = path
        self._who = _who
        n_channels = _checks.integer_at_least(f"{_who}: n_channels", n_channels)
        self.n_classes = _checks.integer_at_least(f"{_who}: n_classes", n_classes)
        self.sensor_size = (n_channels,)
        self._file = open_hdf5(path, self._who, _SHD_KIND, "reading SHD files", "nwb")
        try:
            self._times, self._units, self.labels = _shd_layout(self._file, self._bad, self.n_classes)
        except BaseException:
            self._file.close()
            raise

    def _bad(self, why):
        return bad_file(self._who, self.path, _SHD_KIND, why)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i) -> tuple[np.ndarray, int]:
        n = len(self)
        if isinstance(i, bool) or not isinstance(i, (int, np.integer)) or not -n <= i < n:
            raise IndexError(f"SHDFile: sample {i!r} of a file of {n} samples")
        i = int(i) % n
        times, units = np.asarray(self._times[i]), np.asarray(self._units[i])
        return _shd_sample(i, times, units, self.sensor_size[0], self._bad), int(self.labels[i])

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    def close(self) -> None:
        """Close the HDF5 file."""
        self._file.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


_SHD_KIND = "an SHD file (spikes/times, spikes/units, labels)"


def _shd_layout(f, bad, n_classes: int):
    import h5py

    found = {}
    for name in ("spikes/times", "spikes/units", "labels"):
        try:
            obj = f.get(name)
        except (KeyError, TypeError, ValueError):       # a path through a dataset
            obj = None
        if not isinstance(obj, h5py.Dataset):
            raise bad(f"it has no dataset {name}; its top level holds {sorted(f.keys())}")
        if obj.ndim != 1:
            raise bad(f"its {name} has shape {obj.shape}, where one entry per sample (1-D) is expected")
        found[name] = obj
    times, units, labels = found["spikes/times"], found["spikes/units"], found["labels"][()]
    if not len(times) == len(units) == len(labels):
        raise bad(f"its spikes/times, spikes/units and labels hold {len(times)}, {len(units)} and {len(labels)} "
                  "samples, where one count is expected")
    if labels.dtype.kind not in "iu":
        raise bad(f"its labels are of dtype {labels.dtype}, where integer class indices are expected")
    out = np.flatnonzero((labels < 0) | (labels >= n_classes))
    if out.size:
        i = int(out[0])
        raise bad(f"its labels[{i}] = {labels[i]} lies outside the classes 0-{n_classes - 1} (n_classes={n_classes}); "
                  f"{out.size} label(s) are outside")
    return times, units, labels.astype(np.int64)


def _shd_sample(i: int, times, units, n_channels: int, bad) -> np.ndarray:
    if times.ndim != 1 or units.ndim != 1:
        raise bad(f"its sample {i} has spike times of shape {times.shape} and units of shape {units.shape}, where one "
                  "variable-length array of each per sample is expected")
    if len(units) != len(times):
        raise bad(f"its sample {i} has {len(times)} spike times but {len(units)} units")
    if times.dtype.kind not in "fiu" or units.dtype.kind not in "iu":
        raise bad(f"its sample {i} has spike times of dtype {times.dtype} and units of dtype {units.dtype}; "
                  "numbers (s) and integer channels are expected")
    times = times.astype(np.float64)
    wrong = np.flatnonzero(~np.isfinite(times) | (times < 0))
    if wrong.size:
        j = int(wrong[0])
        raise bad(f"its sample {i}, spike {j} is at t = {times[j]} s; finite times >= 0 are expected")
    units = units.astype(np.int64)
    wrong = np.flatnonzero((units < 0) | (units >= n_channels))
    if wrong.size:
        j = int(wrong[0])
        raise bad(f"its sample {i}, spike {j} is of unit {units[j]}, outside the {n_channels} channels "
                  f"(0-{n_channels - 1})")
    return _channel_events(np.rint(times * 1e6).astype(np.int64), units)


def open_shd(path, n_channels: int = SHD_CHANNELS, n_classes: int = SHD_CLASSES) -> SHDFile:
    """The SHD file ``path`` open for reading a sample at a time (:class:`SHDFile`).

    The layout (Cramer et al. 2020; Zenke lab's datasets page): ``spikes/times`` (one array of
    spike times in seconds per sample, an HDF5 variable-length dataset), ``spikes/units`` (the
    channel, 0-699, of each of those spikes), ``labels`` (the class of each sample, 0-19: the
    ten digits spoken in English and in German); ``extra/`` (speakers, keys) is not read.
    A file missing a dataset, with counts that disagree or labels outside ``n_classes`` is
    refused on opening; a sample with a unit outside ``n_channels`` or a negative time when it
    is read. The Spiking Speech Commands files share the layout: ``n_classes=35``."""
    return SHDFile(path, n_channels, n_classes)


def read_shd(path, n_channels: int = SHD_CHANNELS, n_classes: int = SHD_CLASSES) -> SHDSamples:
    """Every sample of the SHD file ``path`` (the layout and checks of :func:`open_shd`):
    :class:`SHDSamples` ``(events, labels, sensor_size)``, one :data:`CHANNEL_EVENTS` array
    (times in us) per sample."""
    with SHDFile(path, n_channels, n_classes, _who="read_shd") as f:
        times, units = f._times[()], f._units[()]          # each whole: one read, not one per sample
        events = [_shd_sample(i, np.asarray(t), np.asarray(u), f.sensor_size[0], f._bad)
                  for i, (t, u) in enumerate(zip(times, units))]
        return SHDSamples(events, f.labels.copy(), f.sensor_size)


def write_shd(path, samples, labels):
    """Write ``samples`` (a list of :data:`CHANNEL_EVENTS` arrays, times in us) and ``labels``
    to ``path`` in the SHD layout of :func:`open_shd` (times in seconds, float64; units uint16;
    labels uint16), whole or not at all. Returns the path."""
    from ._optional import require

    h5py = require("h5py", "writing SHD files", "nwb")
    who = "write_shd"
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.dtype.kind not in "iu" or len(labels) != len(samples):
        raise ValueError(f"{who}: labels must be {len(samples)} integers, one per sample, got {labels!r}")
    for i, ev in enumerate(samples):
        if _events(ev, f"{who}: samples[{i}]") != "channel":
            raise ValueError(f"{who}: samples[{i}] must be channel events (t, channel), got fields {ev.dtype.names}")

    import io

    buffer = io.BytesIO()               # h5py reads as it writes; the file on disk is written in one go
    with h5py.File(buffer, "w") as h:
        spikes = h.create_group("spikes")
        t = spikes.create_dataset("times", (len(samples),), dtype=h5py.vlen_dtype(np.float64))
        u = spikes.create_dataset("units", (len(samples),), dtype=h5py.vlen_dtype(np.uint16))
        for i, ev in enumerate(samples):
            t[i] = ev["t"].astype(np.float64) / 1e6
            u[i] = ev["channel"].astype(np.uint16)
        h.create_dataset("labels", data=labels.astype(np.uint16))
    return write_atomically(path, lambda f: f.write(buffer.getvalue()), who)


# ----------------------------------------------------------------------------- transforms


def _index(events, sensor: tuple, kind: str, channels: str, who: str):
    """``(input index of each event, n_inputs)``."""
    if channels not in ("polarity", "merge"):
        raise ValueError(f"{who}: channels must be 'polarity' (ON and OFF apart) or 'merge', got {channels!r}")
    if kind == "channel":
        return events["channel"].astype(np.int64), sensor[0]
    w, h = sensor
    pixel = events["y"].astype(np.int64) * w + events["x"].astype(np.int64)
    if channels == "merge":
        return pixel, w * h
    return events["p"].astype(np.int64) * (w * h) + pixel, 2 * w * h


def to_raster(events, sensor_size, dt_us, n_steps: int | None = None, channels: str = "polarity", *,
              t_start: int = 0, binary: bool = False) -> np.ndarray:
    """The ``(n_steps, n_inputs)`` float32 raster of ``events``: row ``k`` counts the events of
    each input in ``[t_start + k dt_us, t_start + (k + 1) dt_us)`` (``binary=True``: 1 where
    there is at least one). Events before ``t_start`` or past the last row are left out;
    ``n_steps=None`` makes the raster just long enough for the last event.

    The input index of a camera event at pixel ``(x, y)`` of a ``W x H`` sensor is
    ``p * W * H + y * W + x`` with ``channels="polarity"`` (n_inputs = 2 W H: the OFF
    image, then the ON image, each row by row, as a (2, H, W) frame flattens) and ``y * W + x``
    with ``channels="merge"`` (n_inputs = W H). A cochlea event's index is its channel.

    A row is a simulation step: with ``dt_us = 1000 * dt`` the raster goes straight into a
    ``RasterSource`` population of a network run at ``dt`` ms
    (:func:`neurosim.builders.set_input_raster`), and rasters stacked to (N, T, n_inputs) are
    what :func:`neurosim.train.fit` takes."""
    who = "to_raster"
    kind = _events(events, who)
    sensor = _sensor(sensor_size, who)
    _within(events, sensor, kind, who)
    dt_us = _checks.positive_finite(f"{who}: dt_us", dt_us)
    if isinstance(t_start, bool) or not isinstance(t_start, (int, np.integer)):
        raise ValueError(f"{who}: t_start must be an integer (us), got {t_start!r}")
    index, n_inputs = _index(events, sensor, kind, channels, who)
    rel = events["t"].astype(np.int64) - int(t_start)
    if abs(dt_us - round(dt_us)) <= 1e-9 * dt_us:        # whole microseconds: exact integer bins
        step = rel // max(int(round(dt_us)), 1)
    else:                     # true division, not //: 3 // 0.1 is 29.0 (0.1 is stored a little above 0.1)
        step = np.floor(rel / dt_us).astype(np.int64)
    if n_steps is None:
        later = step[step >= 0]
        if later.size == 0:
            raise ValueError(f"{who}: no event at or after t_start = {t_start} us, so the raster's length is unknown: "
                             "give n_steps")
        n_steps = int(later.max()) + 1
    n_steps = _checks.integer_at_least(f"{who}: n_steps", n_steps)
    _checks.fits_in_memory(f"{who}: a raster of {n_steps} steps x {n_inputs} inputs", 12.0 * n_steps * n_inputs,
                           f"start at the first event (t_start={int(events['t'].min()) if len(events) else 0}: "
                           f"camera timestamps are absolute), use a longer dt_us, channels='merge', downsample() "
                           f"or crop()")
    inside = (step >= 0) & (step < n_steps)
    counts = np.bincount(step[inside] * n_inputs + index[inside], minlength=n_steps * n_inputs)
    raster = counts.reshape(n_steps, n_inputs).astype(np.float32)
    return np.minimum(raster, 1.0) if binary else raster


def denoise(events, filter_time_us) -> np.ndarray:
    """``events`` without the isolated ones: the background-activity filter (Delbruck 2008), with
    the rule of tonic's ``Denoise``. Taking the events in time order (ties in their given
    order), an event is kept when one of its four neighbouring pixels ``(x +- 1, y)``,
    ``(x, y +- 1)`` (a cochlea's: channels ``c +- 1``) had an event, of either polarity, less
    than ``filter_time_us`` before it (``t - t_neighbour < filter_time_us``). The event's own
    pixel does not count: a hot pixel firing alone is removed. Returns the kept events in their
    given order. (tonic starts every pixel as if it had fired at t = 0, so it keeps the events
    of the first ``filter_time`` that have any neighbour pixel; here a pixel that has not fired
    has not fired.)"""
    who = "denoise"
    kind = _events(events, who)
    window = _checks.positive_finite(f"{who}: filter_time_us", filter_time_us)
    n = len(events)
    if n == 0:
        return events.copy()
    order = np.argsort(events["t"], kind="stable")
    t = events["t"][order].astype(np.int64)
    if kind == "camera":
        x, y = events["x"][order].astype(np.int64), events["y"][order].astype(np.int64)
        offsets = ((-1, 0), (1, 0), (0, -1), (0, 1))
    else:
        x, y = events["channel"][order].astype(np.int64), np.zeros(n, np.int64)
        offsets = ((-1, 0), (1, 0))
    # a pixel's key; a neighbour beyond the sensor's edge (-1, or 65536) matches no pixel
    key = (lambda a, b: a * (2 ** 18) + b)
    own = key(x, y)
    kept = np.zeros(n, bool)
    position = np.arange(n)
    for dx, dy in offsets:
        # each event, and the query "the latest earlier event at the pixel next to it", sorted
        # by (pixel, position): a query's latest writer is the last writer before it in its pixel
        keys = np.concatenate([own, key(x + dx, y + dy)])
        pos = np.concatenate([position, position])
        is_writer = np.concatenate([np.ones(n, bool), np.zeros(n, bool)])
        s = np.lexsort((~is_writer, pos, keys))
        last = np.maximum.accumulate(np.where(is_writer[s], np.arange(2 * n), -1))
        query = ~is_writer[s]
        q_at, w_at = np.flatnonzero(query), last[query]
        found = (w_at >= 0) & (keys[s][np.maximum(w_at, 0)] == keys[s][q_at])
        q_event, w_event = pos[s][q_at][found], pos[s][w_at[found]]
        kept[q_event[(t[q_event] - t[w_event]) < window]] = True
    keep = np.zeros(n, bool)
    keep[order] = kept
    return events[keep]


def time_surface(events, sensor_size, tau_us, t, channels: str = "polarity") -> np.ndarray:
    """The time surface of ``events`` at time ``t`` (us): ``exp(-(t - t_last) / tau_us)`` at each
    pixel, ``t_last`` the time of its last event at or before ``t``; the surface is 0 at a pixel
    with no event at or before ``t``.
    float32, of shape ``(2, H, W)`` (``channels="polarity"``: OFF, then ON), ``(H, W)``
    (``"merge"``) or ``(n_channels,)`` for a cochlea (Lagorce et al. 2017, HOTS)."""
    who = "time_surface"
    kind = _events(events, who)
    sensor = _sensor(sensor_size, who)
    _within(events, sensor, kind, who)
    tau_us = _checks.positive_finite(f"{who}: tau_us", tau_us)
    if isinstance(t, bool) or not isinstance(t, (int, float, np.integer, np.floating)) or not math.isfinite(t):
        raise ValueError(f"{who}: t must be a finite time (us), got {t!r}")
    index, n_inputs = _index(events, sensor, kind, channels, who)
    times = events["t"].astype(np.int64)
    past = times <= t
    last = np.full(n_inputs, np.iinfo(np.int64).min)
    np.maximum.at(last, index[past], times[past])
    seen = last > np.iinfo(np.int64).min
    surface = np.zeros(n_inputs, np.float64)
    surface[seen] = np.exp(-(t - last[seen]) / tau_us)
    shape = sensor if kind == "channel" else ((2, sensor[1], sensor[0]) if channels == "polarity" else sensor[::-1])
    return surface.astype(np.float32).reshape(shape)


def crop(events, sensor_size, origin, size) -> Recording:
    """The events inside the box of ``size`` (``(width, height)``; a cochlea's ``(n,)``)
    whose corner is ``origin`` (``(x0, y0)``; ``(c0,)``), moved so that the box's corner is
    ``(0, 0)``: a :class:`Recording` whose ``sensor_size`` is ``size``."""
    who = "crop"
    kind = _events(events, who)
    sensor = _sensor(sensor_size, who)
    _within(events, sensor, kind, who)
    size = _sensor(size, who, dims=(len(sensor),), name="size")
    try:
        origin = tuple(int(o) for o in origin) if all(
            isinstance(o, (int, np.integer)) and not isinstance(o, bool) for o in origin) else None
    except TypeError:
        origin = None
    if origin is None or len(origin) != len(sensor) or any(
            o < 0 or o + s > full for o, s, full in zip(origin, size, sensor)):
        raise ValueError(f"{who}: origin must be {len(sensor)} integer(s) >= 0 placing the box of size {size} inside the "
                         f"sensor {sensor}, got {origin!r}")
    fields = ("x", "y") if kind == "camera" else ("channel",)
    inside = np.ones(len(events), bool)
    for f, o, s in zip(fields, origin, size):
        c = events[f].astype(np.int64)
        inside &= (c >= o) & (c < o + s)
    out = events[inside].copy()
    for f, o in zip(fields, origin):
        out[f] = out[f] - o
    return Recording(out, size)


def downsample(events, sensor_size, factor: int) -> Recording:
    """The events on a sensor ``factor`` times coarser: pixel ``(x, y)`` becomes
    ``(x // factor, y // factor)`` (a channel ``c // factor``), the sensor
    ``ceil(W / factor) x ceil(H / factor)``. Events are kept, not merged: a raster of the result
    counts them all."""
    who = "downsample"
    kind = _events(events, who)
    sensor = _sensor(sensor_size, who)
    _within(events, sensor, kind, who)
    factor = _checks.integer_at_least(f"{who}: factor", factor)
    out = events.copy()
    for f in (("x", "y") if kind == "camera" else ("channel",)):
        out[f] = out[f] // factor
    return Recording(out, tuple(-(-s // factor) for s in sensor))
