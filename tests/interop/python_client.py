"""gRPC's own Python implementation against archived: server reflection
(v1alpha, all grpcio-reflection speaks) and calls through stubs generated
from proto/ here, so another implementation checks the wire contract.

Usage: python_client.py HOST:PORT PROTO_DIR. Prints "ok" and exits 0, or
fails with a message."""

import importlib
import pathlib
import sys
import tempfile

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

print("ok")
