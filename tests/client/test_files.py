"""What ``image`` accepts, and that PIL is imported only by callers who pass PIL images."""

from __future__ import annotations

import io
import subprocess
import sys
import textwrap

import pytest

from happyhorse.client._files import FileToUpload, file_to_upload, image_reference_or_file


@pytest.mark.parametrize("reference", [
    "https://example.com/a.png", "http://example.com/a.png", "data:image/png;base64,AAAA", "upload_01abc",
])
def test_references_pass_through(reference):
    assert image_reference_or_file(reference) == reference


def test_paths_bytes_files_and_pil_images_become_uploads(image_file, pil_image):
    path = image_file(320, 320, fmt="JPEG")
    from_path = image_reference_or_file(str(path))
    assert isinstance(from_path, FileToUpload) and from_path.filename == path.name
    assert from_path.content_type == "image/jpeg" and from_path.content == path.read_bytes()
    assert image_reference_or_file(path) == from_path
    assert file_to_upload(path.read_bytes()).filename == "image.jpg"
    assert file_to_upload(io.BytesIO(b"RIFF\x00\x00\x00\x00WEBPVP8 ")).content_type == "image/webp"
    pil = file_to_upload(pil_image(300, 300).convert("CMYK"))
    assert (pil.filename, pil.content_type, pil.content[:4]) == ("image.png", "image/png", b"\x89PNG")


def test_a_missing_file_and_a_wrong_type_say_what_to_pass(tmp_path):
    with pytest.raises(FileNotFoundError, match="URL, data URI, upload id"):
        image_reference_or_file(str(tmp_path / "nope.png"))
    with pytest.raises(TypeError, match="PIL image"):
        image_reference_or_file(42)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="binary mode"):
        file_to_upload(io.StringIO("text"))  # type: ignore[arg-type]


def test_uploading_paths_and_bytes_never_imports_pil(image_file):
    path = image_file(320, 320)
    script = textwrap.dedent(f"""
        import json, sys, httpx, happyhorse
        upload = {{"upload_id": "upload_01x", "object": "upload", "content_type": "image/png", "bytes": 1,
                   "width": 320, "height": 320, "created_at": 0}}
        transport = httpx.MockTransport(lambda request: httpx.Response(201, json=upload))
        client = happyhorse.Client(api_key="k", http_client=httpx.Client(transport=transport))
        client.uploads.create({str(path)!r})
        client.uploads.create(open({str(path)!r}, "rb").read())
        print(json.dumps(sorted(m for m in ("PIL", "numpy") if m in sys.modules)))
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
