"""Reads a run directory's TensorBoard event files with the `tensorboard` package and prints what
it finds as JSON, for the Swift tests to check (requirements.txt beside this file).

Two views: TensorBoard's EventAccumulator (what its dashboards show, restart purging included), and
every file's raw events through its event-file loader (what a reader that purges nothing shows),
plus an independent check of every record's framing and masked CRC-32C.
"""
import glob
import json
import os
import struct
import sys

from tensorboard.backend.event_processing import event_accumulator, event_file_loader
from tensorboard.compat.proto import event_pb2
from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import masked_crc32c


def check_framing(path):
    """Records whose length and payload CRCs match, and bytes after the last such record."""
    data = open(path, "rb").read()
    offset, records, crc_ok = 0, 0, True
    while len(data) - offset >= 16:
        header = data[offset:offset + 8]
        (length,) = struct.unpack("<Q", header)
        (header_crc,) = struct.unpack("<I", data[offset + 8:offset + 12])
        if header_crc != masked_crc32c(header):
            crc_ok = False
            break
        if offset + 16 + length > len(data):
            break
        payload = data[offset + 12:offset + 12 + length]
        (payload_crc,) = struct.unpack("<I", data[offset + 12 + length:offset + 16 + length])
        if payload_crc != masked_crc32c(payload):
            crc_ok = False
            break
        records += 1
        offset += 16 + length
    return records, crc_ok, len(data) - offset


def main(directory):
    files = []
    raw_scalar_steps = {}
    session_starts = []
    for path in sorted(glob.glob(os.path.join(directory, "*tfevents*"))):
        records, crc_ok, trailing = check_framing(path)
        loaded = 0
        for record in event_file_loader.RawEventFileLoader(path).Load():
            loaded += 1
            event = event_pb2.Event.FromString(record)
            if event.HasField("session_log") and event.session_log.status == event_pb2.SessionLog.START:
                session_starts.append(event.step)
            for value in event.summary.value:
                if value.HasField("simple_value"):
                    raw_scalar_steps.setdefault(value.tag, []).append(event.step)
        files.append({"name": os.path.basename(path), "records": records, "loaded": loaded,
                      "crc_ok": crc_ok, "trailing_bytes": trailing})

    guidance = {kind: 0 for kind in (event_accumulator.SCALARS, event_accumulator.HISTOGRAMS,
                                     event_accumulator.TENSORS, event_accumulator.COMPRESSED_HISTOGRAMS)}
    accumulator = event_accumulator.EventAccumulator(directory, size_guidance=guidance)
    accumulator.Reload()
    tags = accumulator.Tags()
    scalars = {tag: [[e.step, e.value] for e in accumulator.Scalars(tag)] for tag in tags["scalars"]}
    histograms = {
        tag: [{"step": e.step, "num": e.histogram_value.num, "bucket_sum": sum(e.histogram_value.bucket),
               "min": e.histogram_value.min, "max": e.histogram_value.max} for e in accumulator.Histograms(tag)]
        for tag in tags["histograms"]
    }
    texts = {
        tag: [{"step": e.step, "text": b"".join(e.tensor_proto.string_val).decode()}
              for e in accumulator.Tensors(tag)]
        for tag in tags["tensors"]
    }
    print(json.dumps({"files": files, "scalars": scalars, "histograms": histograms, "texts": texts,
                      "raw_scalar_steps": raw_scalar_steps, "session_starts": session_starts}))


if __name__ == "__main__":
    main(sys.argv[1])
