"""moto_server, answering one request at a time.

moto's threaded server does not isolate DynamoDB transactions: TransactWriteItems deep-copies the
table and, when a condition fails, restores that copy, undoing writes that other threads committed
meanwhile (moto/dynamodb/models/__init__.py, transact_write_items). Real DynamoDB serialises
transactions on the items they touch. Serving requests one at a time gives the tests that isolation
(and removes moto's own race on concurrent PutObjects of one key).
"""
import sys

import moto.server as server

_run_simple = server.run_simple


# --threaded: moto's own behaviour, for benchmarks that need throughput more than isolation.
THREADED = "--threaded" in sys.argv


def _serial_run_simple(*args, **kwargs):
    kwargs["threaded"] = THREADED
    return _run_simple(*args, **kwargs)


server.run_simple = _serial_run_simple
server.main([a for a in sys.argv[1:] if a != "--threaded"])
