"""schemathesis hooks for tests/api/test_schemathesis.py (loaded through SCHEMATHESIS_HOOKS).

`use_after_free_or_cancel` is schemathesis's own `use_after_free` check, run on every operation,
with one difference that the API's contract (DESIGN.md) makes: `DELETE /api/runs/{id}` on a live
run answers 202 Accepted, "cancelling", and the run stays readable so its viewers see it end as
`cancelled`; only a 200/204 DELETE deletes. The built-in check counts every 2xx DELETE as a
deletion, so it would call reading a cancelled run a use after free. Here a DELETE that answered
202 is not a deletion; every other DELETE (a finished run's 204, a note's, a lesson's) is held to
the check exactly as schemathesis defines it.
"""
import schemathesis
from schemathesis.specs.openapi.checks import use_after_free


class _Internals:
    """The check context's recorder, with DELETEs that answered 202 (accepted, not done) unseen."""

    def __init__(self, internals):
        self._internals = internals

    def __getattr__(self, name):
        return getattr(self._internals, name)

    def find_response(self, *, case_id):
        response = self._internals.find_response(case_id=case_id)
        if response is not None and response.status_code == 202 and response.request.method.upper() == "DELETE":
            return None
        return response


class _Context:
    def __init__(self, ctx):
        self._ctx = ctx
        self.internals = _Internals(ctx.internals)

    def __getattr__(self, name):
        return getattr(self._ctx, name)


@schemathesis.check
def use_after_free_or_cancel(ctx, response, case):
    return use_after_free(_Context(ctx), response, case)


# POST /api/runs/import takes NDJSON: the generated body (a string, as the document says) goes on
# the wire as it is, like text/plain.
schemathesis.serializer.alias("application/x-ndjson", "text/plain")
