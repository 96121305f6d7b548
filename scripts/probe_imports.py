"""Issue 32's probe of hostile imports, from outside: gRPC's own Python
implementation against a running archived (auth off), with stubs generated
from proto/. Prints one line per finding: what was sent, the answer, how
long it took, and what the archive holds afterwards.

Usage: python3 scripts/probe_imports.py [--check] HOST:PORT [PROTO_DIR]
(needs grpcio and grpcio-tools: scripts/services.sh puts them in
.tools/venv). Run it against two builds to compare them. With --check it
exits 1 unless every answer is the hardened one (tests/it/hardening runs
it so)."""

import importlib
import pathlib
import sys
import tempfile
import time

import grpc
import grpc_tools
from grpc_tools import protoc

args = sys.argv[1:]
check = "--check" in args
args = [a for a in args if a != "--check"]
target = args[0]
proto_dir = pathlib.Path(args[1] if len(args) > 1 else pathlib.Path(__file__).parent.parent / "proto")
failures = []
out = tempfile.mkdtemp()
well_known = pathlib.Path(grpc_tools.__file__).parent / "_proto"
protos = [str(p.relative_to(proto_dir)) for p in sorted(proto_dir.glob("archive/v1/*.proto"))]
assert protoc.main(["protoc", f"-I{proto_dir}", f"-I{well_known}", f"--python_out={out}", f"--grpc_python_out={out}", *protos]) == 0
sys.path.insert(0, out)
article_pb2 = importlib.import_module("archive.v1.article_pb2")
article_grpc = importlib.import_module("archive.v1.article_pb2_grpc")
metadata_pb2 = importlib.import_module("archive.v1.metadata_pb2")
metadata_grpc = importlib.import_module("archive.v1.metadata_pb2_grpc")

channel = grpc.insecure_channel(target, options=[("grpc.max_send_message_length", 64 << 20), ("grpc.max_receive_message_length", 64 << 20)])
grpc.channel_ready_future(channel).result(timeout=10)
articles = article_grpc.ArticleServiceStub(channel)
metadata = metadata_grpc.MetadataServiceStub(channel)
seed = (pathlib.Path(__file__).parent.parent / "tests/fixtures/article-2019-09-30-giao-ban-truc-tuyen.txt").read_text()


def article_count():
    return metadata.GetArchiveStatistics(metadata_pb2.GetArchiveStatisticsRequest(), timeout=30).article_count


def call(label, method, request, expect, timeout=60):
    before = article_count()
    start = time.monotonic()
    try:
        answer = method(request, timeout=timeout)
        outcome, reason, trailer_bytes = "OK", "", 0
    except grpc.RpcError as error:
        answer = None
        outcome = error.code().name
        details = dict(error.trailing_metadata() or ()).get("grpc-status-details-bin", b"")
        reason = next((r for r in [b"INVALID_CLIP_REFERENCE", b"TOO_MANY_CLIP_REFERENCES", b"BODY_TOO_LARGE", b"VIEW_COUNT_TOO_LARGE", b"FIELD_TOO_LONG", b"MESSAGE_TOO_LARGE", b"INVALID_NAME", b"INVALID_ID"] if r in details), b"").decode()
        trailer_bytes = len(details) + len((error.details() or "").encode())
    took = time.monotonic() - start
    added = article_count() - before
    print(f"| {label} | {outcome} {reason} | {took * 1000:.0f} ms | {trailer_bytes} B | {added:+d} |")
    expected_outcome, expected_added = expect
    if not outcome.startswith(expected_outcome) or added != expected_added or trailer_bytes > 1024 or took > 10:
        failures.append(f"{label}: {outcome} {reason}, {added:+d} articles, {trailer_bytes} B, {took:.1f} s")
    return answer


def export_with(references):
    return seed.replace("Video: 93019_OHAI1.mp4", references).encode()


print("| probe | answer | time | error bytes | articles |")
print("| --- | --- | --- | --- | --- |")
REFUSED = ("INVALID_ARGUMENT", 0)
for reference in ["../../secret", "/etc/archived/tokens.toml"]:
    request = article_pb2.ImportArticleRequest(export_text=export_with(f"Video: {reference}"))
    call(f"1. `Video: {reference}`", articles.ImportArticle, request, REFUSED)
for lines in [10_000, 20_000, 40_000, 300_000]:
    refs = "".join(f"Video: c{i}.mp4\n" for i in range(lines))
    request = article_pb2.ImportArticleRequest(export_text=export_with(refs))
    call(f"2. {lines:,} `Video:` lines ({len(refs) / 1e6:.1f} MB)", articles.ImportArticle, request, REFUSED)
text = export_with("Đảng bộ tỉnh Thái Bình. " * (8_388_602 // 28))
text = (text + b"." * 8_388_602)[:8_388_602]
call("7. an 8,388,602-byte import", articles.ImportArticle, article_pb2.ImportArticleRequest(export_text=text), REFUSED)
views = seed.replace("89 lượt xem", "9223372036854775807 lượt xem").encode()
call("8. `9223372036854775807 lượt xem`", articles.ImportArticle, article_pb2.ImportArticleRequest(export_text=views), REFUSED)
call("8. GetArchiveStatistics after it", metadata.GetArchiveStatistics, metadata_pb2.GetArchiveStatisticsRequest(), ("OK", 0))
name = "articles/" + "x" * (4 << 20)
call("9. GetArticle of a 4 MB name", articles.GetArticle, article_pb2.GetArticleRequest(name=name), REFUSED)
request = article_pb2.ImportArticleRequest(export_text=seed.encode(), request_id="probe-retry-1")
first = call("7. ImportArticle with a request_id", articles.ImportArticle, request, ("OK", 1))
again = call("7. the same, retried", articles.ImportArticle, request, ("OK", 0))
if first and again and first.article.name != again.article.name:
    failures.append("the retry made another article")

if failures:
    print("\nnot hardened:\n" + "\n".join(failures))
    sys.exit(1 if check else 0)
print("\nok")
