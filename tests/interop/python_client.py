"""gRPC's own Python implementation against archived: server reflection
(v1alpha, all grpcio-reflection speaks) and calls through stubs generated
from proto/ here, so another implementation checks the wire contract,
with the interop cases of grpc's doc/interop-test-descriptions.md that
apply (large_unary, client_streaming, server_streaming, empty_stream,
cancel_after_first_response, timeout_on_sleeping_server,
status_code_and_message, custom_metadata, unimplemented_method).

Usage: python_client.py HOST:PORT PROTO_DIR. Prints "ok" and exits 0, or
fails with a message."""

import hashlib
import importlib
import pathlib
import random
import sys
import tempfile
import time

import grpc
import grpc_tools
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase
from grpc_tools import protoc

target, proto_dir = sys.argv[1], pathlib.Path(sys.argv[2])
channel = grpc.insecure_channel(target)
grpc.channel_ready_future(channel).result(timeout=10)

services = set(ProtoReflectionDescriptorDatabase(channel).get_services())
expected = {"archive.v1.ArticleService", "archive.v1.MetadataService", "archive.v1.MediaService", "grpc.health.v1.Health"}
missing = expected - services
assert not missing, f"reflection v1alpha does not list {missing} (it lists {services})"

out = tempfile.mkdtemp()
well_known = pathlib.Path(grpc_tools.__file__).parent / "_proto"
protos = [str(p.relative_to(proto_dir)) for p in sorted(proto_dir.glob("archive/v1/*.proto"))]
code = protoc.main(["protoc", f"-I{proto_dir}", f"-I{well_known}", f"--python_out={out}", f"--grpc_python_out={out}", *protos])
assert code == 0, f"protoc failed ({code})"
sys.path.insert(0, out)
article_pb2 = importlib.import_module("archive.v1.article_pb2")
article_grpc = importlib.import_module("archive.v1.article_pb2_grpc")
media_pb2 = importlib.import_module("archive.v1.media_pb2")
media_grpc = importlib.import_module("archive.v1.media_pb2_grpc")

stub = article_grpc.ArticleServiceStub(channel)
body = "Sáng 30/9, Đảng bộ tỉnh Thái Bình tổ chức hội nghị giao ban trực tuyến.\nNgười dân đồng tình."
article = article_pb2.Article(title="Giao ban trực tuyến", body=body, author="Thu Hoài", keywords=["Đảng", "Thái Bình"])
created = stub.CreateArticle(article_pb2.CreateArticleRequest(article=article)).article
got = stub.GetArticle(article_pb2.GetArticleRequest(name=created.name, view=article_pb2.ARTICLE_VIEW_FULL)).article
assert got.body == body and got.title == article.title, "the text did not round-trip byte for byte"
assert list(got.keywords) == ["Đảng", "Thái Bình"], got.keywords

try:
    stub.GetArticle(article_pb2.GetArticleRequest(name="articles/khong-ton-tai"))
    raise AssertionError("a missing article was found")
except grpc.RpcError as error:
    assert error.code() == grpc.StatusCode.NOT_FOUND, error.code()
    details = dict(error.trailing_metadata() or ())
    assert "grpc-status-details-bin" in details, "no google.rpc.Status details"
    assert b"ARTICLE_NOT_FOUND" in details["grpc-status-details-bin"], "no ErrorInfo reason"

try:
    channel.unary_unary("/archive.v1.ArticleService/NoSuchMethod")(b"")
    raise AssertionError("an unknown method answered")
except grpc.RpcError as error:
    assert error.code() == grpc.StatusCode.UNIMPLEMENTED, error.code()

# large_unary: a request of ~270 KB of Vietnamese text and the same back.
large = "Đảng bộ tỉnh Thái Bình nâng cao chất lượng sinh hoạt chi bộ. " * 4500
big = stub.CreateArticle(article_pb2.CreateArticleRequest(article=article_pb2.Article(title="Lớn", body=large))).article
back = stub.GetArticle(article_pb2.GetArticleRequest(name=big.name, view=article_pb2.ARTICLE_VIEW_FULL)).article
assert back.body == large, "the large body did not round-trip"

# client_streaming: chunks of grpc's sizes make one clip of their sum.
media = media_grpc.MediaServiceStub(channel)
data = random.Random(7).randbytes(27182 + 8 + 1828 + 45904)
def upload(data, sizes):
    yield media_pb2.UploadMediaRequest(header=media_pb2.UploadHeader(filename="python.bin"))
    at = 0
    for size in sizes:
        yield media_pb2.UploadMediaRequest(chunk=data[at:at + size])
        at += size
    finish = media_pb2.UploadFinish(size_bytes=len(data), sha256=hashlib.sha256(data).hexdigest())
    yield media_pb2.UploadMediaRequest(finish=finish)
clip = media.UploadMedia(upload(data, [27182, 8, 1828, 45904])).media
assert clip.size_bytes == 74922 and clip.sha256 == hashlib.sha256(data).hexdigest(), clip

# server_streaming: a ranged read arrives as contiguous chunks.
chunks = list(media.ReadMedia(media_pb2.ReadMediaRequest(name=clip.name, offset=9, limit=50000)))
assert b"".join(c.data for c in chunks) == data[9:50009], "the range did not come back"
assert [c.offset for c in chunks] == [9 + sum(len(c.data) for c in chunks[:i]) for i in range(len(chunks))]

# empty_stream: an upload with no message is INVALID_ARGUMENT.
try:
    media.UploadMedia(iter([]))
    raise AssertionError("an empty upload was accepted")
except grpc.RpcError as error:
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error.code()

# cancel_after_first_response and timeout_on_sleeping_server, on a clip
# larger than the flow-control windows.
large_clip = random.Random(8).randbytes(24 << 20)
stored = media.UploadMedia(upload(large_clip, [1 << 20] * 24)).media
reading = media.ReadMedia(media_pb2.ReadMediaRequest(name=stored.name))
next(reading)
reading.cancel()
try:
    list(reading)
    raise AssertionError("a cancelled stream went on")
except grpc.RpcError as error:
    assert error.code() == grpc.StatusCode.CANCELLED, error.code()
slow = media.ReadMedia(media_pb2.ReadMediaRequest(name=stored.name), timeout=0.3)
received = len(next(slow).data)
time.sleep(0.6)
try:
    for chunk in slow:
        received += len(chunk.data)
    raise AssertionError("the whole clip came past the deadline")
except grpc.RpcError as error:
    assert error.code() == grpc.StatusCode.DEADLINE_EXCEEDED, error.code()
assert received < len(large_clip), received

# custom_metadata: the caller's request id comes back.
_, call = stub.GetArticle.with_call(
    article_pb2.GetArticleRequest(name=created.name), metadata=[("x-request-id", "python-interop-1")]
)
assert ("x-request-id", "python-interop-1") in call.initial_metadata(), call.initial_metadata()

print("ok")
