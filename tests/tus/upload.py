"""tuspy against a one-time upload URL: uploads a file in chunks with
Upload-Checksum (sha1), stops halfway, resumes with a new uploader at the
same URL (as after a restart), and prints what happened as JSON.

    python upload.py URL FILE CHUNK_BYTES
"""

import json
import sys

from tusclient import client

url, path, chunk = sys.argv[1], sys.argv[2], int(sys.argv[3])
tus = client.TusClient(url)
metadata = {"filename": "Phóng sự Thái Bình.bin", "filetype": "application/octet-stream"}
first = tus.uploader(file_path=path, chunk_size=chunk, metadata=metadata, upload_checksum=True)
size = first.get_file_size()
first.upload(stop_at=size // 2)
# A new uploader asks the server where the upload stands (HEAD).
second = tus.uploader(file_path=path, url=first.url, chunk_size=chunk, upload_checksum=True)
resumed_from = second.offset
second.upload()
print(json.dumps({
    "stopped": first.offset,
    "resumed_from": resumed_from,
    "offset": second.offset,
    "media": second.request.response_headers.get("archive-media"),
}))
