"""transcode: the article's FFmpeg video transcoding as an asynctask container task.

Payload (as in the article)::

    {"bucket": "my-bucket", "object": "480P.mp4", "output_dir": "a", "dst_format": "mov"}

Downloads s3://bucket/object, transcodes it with ffmpeg (FFMPEG_PATH, or ``ffmpeg`` on PATH)
to ``dst_format`` — mov, mp4, flv, avi, webm, or m3u8 (HLS: a playlist and its .ts segments) —
reporting progress from ffmpeg's ``-progress`` output against the input duration, and uploads
every output to s3://bucket/output_dir/<basename>.<ext> (HLS segments next to the playlist).

Result: ``{"outputs": [{"bucket", "key", "bytes"}], "dst_format", "duration_seconds"}``.
On SIGTERM (stop, timeout) ffmpeg is killed before the process exits.

Files of any size: input and outputs live on the task's scratch space (TASK_WORK_DIR, on Fargate
its ephemeral storage) and are removed afterwards; the helper streams the download and uploads
outputs over 8 MiB in parts. A bad payload, a missing bucket or object, an unreadable input or a
failed upload fails the task with a message naming it; no result is written then. A bad payload,
a missing bucket or object and an unreadable input raise PermanentError subclasses, so the task
fails without its retries; a failed transfer or ffmpeg run is retried.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

# In the image the helper sits next to this file (/app); in the repository it is runtime/python.
_HERE = os.path.dirname(os.path.abspath(__file__))
for _path in (os.path.join(_HERE, "..", "..", "runtime", "python"), _HERE):
    if os.path.isfile(os.path.join(_path, "asynctask_runtime.py")):
        sys.path.insert(0, os.path.abspath(_path))

from asynctask_runtime import S3_NOT_FOUND_CODES, AwsError, PermanentError, run  # noqa: E402

# Encoder settings per output format: predictable codecs every player of that container reads.
FORMATS: dict[str, list[str]] = {
    "mov": ["-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-c:a", "aac"],
    "mp4": ["-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-c:a", "aac",
            "-movflags", "+faststart"],
    "flv": ["-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-ar", "44100"],
    "avi": ["-c:v", "mpeg4", "-q:v", "4", "-c:a", "libmp3lame", "-q:a", "4"],
    "webm": ["-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", "-row-mt", "1",
             "-b:v", "0", "-crf", "33", "-c:a", "libopus"],
    "m3u8": ["-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-c:a", "aac",
             "-f", "hls", "-hls_time", "6", "-hls_playlist_type", "vod"],
}
ALLOWED = ", ".join(FORMATS)
DURATION_RE = re.compile(r"Duration:\s*(\d+):(\d{2}):(\d{2}(?:\.\d+)?)")


class PayloadError(PermanentError, ValueError):
    """The payload is not a valid transcode request (not retried)."""


class InputError(PermanentError, ValueError):
    """The input object is missing or not a video ffmpeg can read (not retried)."""


def validate(payload) -> dict:
    """Checks the payload; errors name the field, the value and what is allowed."""
    if not isinstance(payload, dict):
        raise PayloadError(
            f"payload must be a JSON object {{bucket, object, output_dir, dst_format}} (given {type(payload).__name__})"
        )
    errors = []
    for field in ("bucket", "object"):
        value = payload.get(field)
        if not isinstance(value, str) or value.strip() == "":
            errors.append(f"{field} must be a non-empty string (given {value!r})")
    output_dir = payload.get("output_dir", "")
    if output_dir is None:
        output_dir = ""
    if not isinstance(output_dir, str):
        errors.append(f"output_dir must be a string (an S3 key prefix; given {output_dir!r})")
    dst = payload.get("dst_format")
    if not isinstance(dst, str) or dst.lower().lstrip(".") not in FORMATS:
        errors.append(f"dst_format {dst!r} is not supported; allowed: {ALLOWED}")
    obj = payload.get("object")
    if isinstance(obj, str) and obj.endswith("/"):
        errors.append(f"object must name a file, not a prefix (given {obj!r})")
    if errors:
        raise PayloadError("invalid transcode payload: " + "; ".join(errors))
    return {
        "bucket": payload["bucket"].strip(),
        "object": payload["object"].strip(),
        "output_dir": output_dir.strip("/"),
        "dst_format": dst.lower().lstrip("."),
    }


def ffmpeg_path() -> str:
    """FFMPEG_PATH, else ffmpeg on PATH, else (in the repository, for `asynctask dev`) the static
    build that the @ffmpeg-installer npm package ships."""
    configured = os.environ.get("FFMPEG_PATH")
    if configured:
        return configured
    found = shutil.which("ffmpeg")
    if found:
        return found
    machine = {"x86_64": "x64", "amd64": "x64", "aarch64": "arm64", "arm64": "arm64"}.get(
        os.uname().machine.lower(), os.uname().machine.lower())
    bundled = os.path.join(_HERE, "..", "..", "node_modules", "@ffmpeg-installer",
                           f"{sys.platform}-{machine}", "ffmpeg")
    if os.path.isfile(bundled) and os.access(bundled, os.X_OK):
        return os.path.abspath(bundled)
    raise RuntimeError("ffmpeg not found: set FFMPEG_PATH or put ffmpeg on PATH")


def probe_duration(ffmpeg: str, path: str, name: str | None = None) -> float | None:
    """Input duration in seconds from `ffmpeg -i` (there is no ffprobe); None when unknown.
    ``name`` (the S3 location) is what an error about an unreadable input names."""
    completed = subprocess.run(
        [ffmpeg, "-hide_banner", "-nostdin", "-i", path],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, errors="replace", timeout=120,
    )
    found = DURATION_RE.search(completed.stderr)
    if not found:
        if "Invalid data found" in completed.stderr or "No such file" in completed.stderr:
            raise InputError(f"{name or path} is not a video ffmpeg can read: {last_lines(completed.stderr, 3)}")
        return None
    hours, minutes, seconds = found.groups()
    return int(hours) * 3600 + int(minutes) * 60 + float(seconds)


def last_lines(text: str, n: int) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return " | ".join(lines[-n:])


def out_time_seconds(fields: dict) -> float | None:
    """ffmpeg prints out_time_us, and out_time_ms with the same microsecond value (a long-standing
    misnomer); prefer the first, accept the second, fall back to out_time (HH:MM:SS.micro)."""
    for name in ("out_time_us", "out_time_ms"):
        value = fields.get(name, "")
        if re.fullmatch(r"-?\d+", value):
            return max(0, int(value)) / 1_000_000
    value = fields.get("out_time", "")
    found = re.fullmatch(r"(\d+):(\d{2}):(\d{2}(?:\.\d+)?)", value)
    if found:
        return int(found.group(1)) * 3600 + int(found.group(2)) * 60 + float(found.group(3))
    return None


def output_names(src_key: str, dst_format: str) -> tuple[str, str]:
    base = os.path.basename(src_key)
    stem, _ = os.path.splitext(base)
    return stem or base, f"{stem or base}.{dst_format}"


def transcode(ffmpeg: str, source: str, out_dir: str, stem: str, dst_format: str, duration: float | None, task) -> list[str]:
    """Runs ffmpeg, reporting progress; returns the output files (playlist first for HLS)."""
    output = os.path.join(out_dir, f"{stem}.{dst_format}")
    args = list(FORMATS[dst_format])
    if dst_format == "m3u8":
        args += ["-hls_segment_filename", os.path.join(out_dir, f"{stem}_%05d.ts")]
    command = [ffmpeg, "-hide_banner", "-nostdin", "-y", "-i", source, *args,
               "-progress", "pipe:1", "-nostats", output]
    task.log("ffmpeg", command=command)
    stderr_file = tempfile.TemporaryFile(mode="w+", encoding="utf-8", errors="replace")
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=stderr_file, text=True,
                               errors="replace", bufsize=1)
    try:
        fields: dict[str, str] = {}
        last_percent = -1.0
        assert process.stdout is not None
        for line in process.stdout:
            key, sep, value = line.strip().partition("=")
            if not sep:
                continue
            fields[key] = value.strip()
            if key != "progress":
                continue
            seconds = out_time_seconds(fields)
            if value.strip() == "end":
                break
            if duration and seconds is not None:
                percent = min(99.0, round(seconds / duration * 100, 1))
                if percent > last_percent:
                    last_percent = percent
                    task.progress(percent, f"transcoding to {dst_format}: {seconds:.1f}s of {duration:.1f}s")
            elif seconds is not None:
                task.progress(0, f"transcoding to {dst_format}: {seconds:.1f}s done (input duration unknown)")
            fields = {}
        code = process.wait()
    except BaseException:
        # SIGTERM (TaskTerminated) or any error: never leave ffmpeg running.
        kill(process)
        raise
    finally:
        if process.stdout is not None:
            process.stdout.close()
    stderr_file.seek(0)
    stderr = stderr_file.read()
    stderr_file.close()
    if code != 0:
        raise RuntimeError(f"ffmpeg exited with code {code}: {last_lines(stderr, 8)}")
    if dst_format == "m3u8":
        segments = sorted(name for name in os.listdir(out_dir) if name.endswith(".ts"))
        return [output] + [os.path.join(out_dir, name) for name in segments]
    return [output]


def kill(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def handler(payload, task) -> dict:
    request = validate(payload)
    ffmpeg = ffmpeg_path()
    workdir = tempfile.mkdtemp(prefix="transcode-", dir=os.environ.get("TASK_WORK_DIR") or None)
    try:
        source_name = os.path.basename(request["object"]) or "input"
        source = os.path.join(workdir, "in", source_name)
        out_dir = os.path.join(workdir, "out")
        os.makedirs(out_dir)
        task.progress(0, f"downloading s3://{request['bucket']}/{request['object']}")
        location = f"s3://{request['bucket']}/{request['object']}"
        try:
            size = task.download(request["bucket"], request["object"], source)
        except AwsError as error:
            if error.code in S3_NOT_FOUND_CODES:
                raise InputError(str(error)) from None
            raise
        duration = probe_duration(ffmpeg, source, location)
        task.log("input", bytes=size, duration_seconds=duration)
        stem, _ = output_names(request["object"], request["dst_format"])
        started = time.monotonic()
        files = transcode(ffmpeg, source, out_dir, stem, request["dst_format"], duration, task)
        task.log("transcoded", files=len(files), seconds=round(time.monotonic() - started, 3))
        # The input is no longer needed: the scratch space holds at most one of input or outputs
        # plus the outputs, not both for the whole upload.
        os.remove(source)
        task.progress(99, f"uploading {len(files)} file(s)")
        prefix = f"{request['output_dir']}/" if request["output_dir"] else ""
        # The HLS playlist goes last: a failure half-way never leaves a playlist naming segments
        # that were not uploaded. (Nothing is returned as a result unless every file is up.)
        uploaded = {path: task.upload(path, request["bucket"], prefix + os.path.basename(path))
                    for path in files[1:] + files[:1]}
        outputs = [uploaded[path] for path in files]
        task.progress(100, f"done: {len(outputs)} file(s) in s3://{request['bucket']}/{prefix}")
        return {
            "outputs": outputs,
            "dst_format": request["dst_format"],
            "duration_seconds": duration,
        }
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    run(handler)
