"""{{name}}: a Tessera HTTP component in Python, built with componentize-py."""

from componentize_py_types import Ok
from wit_world import exports
from wit_world.imports.types import (
    Fields,
    IncomingRequest,
    OutgoingBody,
    OutgoingResponse,
    ResponseOutparam,
)


class IncomingHandler(exports.IncomingHandler):
    def handle(self, request: IncomingRequest, response_out: ResponseOutparam) -> None:
        path = request.path_with_query() or "/"
        body = f"Hello from {{name}} (Python)! You asked for {path}\n".encode()
        headers = Fields.from_list(
            [
                ("content-type", b"text/plain; charset=utf-8"),
                ("content-length", str(len(body)).encode()),
            ]
        )
        response = OutgoingResponse(headers)
        response.set_status_code(200)
        out = response.body()
        ResponseOutparam.set(response_out, Ok(response))
        with out.write() as stream:
            # blocking_write_and_flush takes at most 4096 bytes at a time.
            for start in range(0, len(body), 4096):
                stream.blocking_write_and_flush(body[start : start + 4096])
        OutgoingBody.finish(out, None)
