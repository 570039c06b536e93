"""AWS in-process through moto: the same boto3 calls as in AWS, answered by moto's backends in this process.

Step Functions executions run in moto's engine; its Lambda tasks are dispatched to the real handlers.
"""

from __future__ import annotations

import base64
import copy
import json
import re
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from agentlab.ids import new_ulid
from agentlab.local.faults import Faults
from agentlab.local.functions import HandlerRegistry, LambdaContext, placeholder_for, substitute
from agentlab.store.cors import BROWSER_CORS_RULE
from agentlab.store.schema import create_table_request

ACCOUNT_ID = "123456789012"
# Model calls leave the process: Bedrock is the one AWS service the local stack does not serve itself.
MOTO_CONFIG = {
    "stepfunctions": {"execute_state_machine": True},
    "lambda": {"use_docker": False},
    "core": {"passthrough": {"services": ["bedrock-runtime"], "urls": []}},
}
STATE_MACHINE_ROLE = f"arn:aws:iam::{ACCOUNT_ID}:role/agentlab-local-states"


def function_arn(region: str, name: str) -> str:
    return f"arn:aws:lambda:{region}:{ACCOUNT_ID}:function:agentlab-{name}"


def state_machine_arn(region: str, workflow: str) -> str:
    return f"arn:aws:states:{region}:{ACCOUNT_ID}:stateMachine:agentlab-{workflow}"


def install_lambda_dispatch(
    registry: HandlerRegistry, *, shortcuts: bool = True, faults: Faults | None = None
) -> Callable[[], None]:
    """Make moto's simple Lambda backend call the real handlers. Returns a function that undoes it.

    A handler that raises is reported the way Lambda reports it (FunctionError + errorType/errorMessage), so the
    state machines' Retry and Catch rules see the same error names as in AWS. `shortcuts=False` leaves out the speed
    shortcuts (`install_shortcuts`), which answer the same as moto does, so a benchmark can measure what they save.
    `faults` (by default those AGENTLAB_LOCAL_FAULTS names, agentlab/local/faults.py) are injected into the
    invocations and the model calls.
    """
    from moto.awslambda_simple.models import LambdaSimpleBackend

    faults = faults if faults is not None else Faults.from_environment()

    original = LambdaSimpleBackend.invoke

    def invoke(self: Any, function_name: str, qualifier: Any, body: Any, headers: Any, response_headers: Any) -> bytes:
        name = function_name.rsplit(":", 1)[-1].removeprefix("agentlab-")
        event = json.loads(body) if body else {}
        try:
            handler = registry.handler(name)
            if faults is not None:
                result = faults.deliver(name, handler, event, lambda: LambdaContext(f"agentlab-{name}", new_ulid()))
            else:
                result = handler(event, LambdaContext(f"agentlab-{name}", new_ulid()))
        except Exception as exc:
            response_headers["x-amz-function-error"] = "Unhandled"
            payload = {
                "errorType": type(exc).__name__,
                "errorMessage": str(exc)[:4_000],
                "stackTrace": traceback.format_exception(exc)[-3:],
            }
            return json.dumps(payload).encode()
        return json.dumps(result).encode()

    LambdaSimpleBackend.invoke = invoke  # type: ignore[method-assign]
    undo_copy = _copy_state_machines_without_executions()
    undo_tracking = _keep_no_list_of_every_model_instance()
    # Installed before the lock, so that the lock wraps them: they rely on DynamoDB requests being serialised.
    undo_shortcuts = install_shortcuts() if shortcuts else _nothing_to_undo
    undo_lock = _serialize_dynamodb_requests()
    undo_faults = faults.install_model_faults() if faults is not None else _nothing_to_undo

    def undo() -> None:
        LambdaSimpleBackend.invoke = original  # type: ignore[method-assign]
        undo_copy()
        undo_tracking()
        undo_lock()
        undo_shortcuts()
        undo_faults()

    return undo


def _keep_no_list_of_every_model_instance() -> Callable[[], None]:
    """moto appends every model object it ever makes (each DynamoDB item version, each S3 object body, each
    execution) to a list on its class, for its dashboard, and never lets go: a local stack then grows with every
    write, not with what it stores (a long API fuzzing session passed 2.4 GB). The stack uses no dashboard, so models
    are made untracked and live as long as the backend keeps them. At reset, moto disposes of S3 objects through the
    buckets; an object it no longer keeps closed its file when it was collected."""
    from moto.core.common_models import BaseModel

    original = BaseModel.__dict__["__new__"]

    def untracked_new(cls: Any, *args: Any, **kwargs: Any) -> Any:
        return super(BaseModel, cls).__new__(cls)

    BaseModel.__new__ = untracked_new  # type: ignore[method-assign]

    def undo() -> None:
        BaseModel.__new__ = original  # type: ignore[method-assign]

    return undo


def _nothing_to_undo() -> None:
    return None


def install_shortcuts() -> Callable[[], None]:
    """The local engine's speed shortcuts over moto: each gives the answers moto gives (tests compare the two) in less
    time. They rely on DynamoDB requests being serialised (`_serialize_dynamodb_requests`). Returns their undo."""
    undoes = [
        _roll_back_only_touched_items(),
        _item_responses_as_plain_json(),
        _item_requests_read_as_plain_json(),
        _query_one_partition(),
        _reuse_parsed_definitions_and_clients(),
        _check_item_size_once(),
        _parse_each_json_path_once(),
        _parse_each_update_expression_once(),
        _list_handler_methods_once(),
    ]

    def undo() -> None:
        for each in reversed(undoes):
            each()

    return undo


def _check_item_size_once() -> Callable[[], None]:
    """moto builds an item attribute by attribute and, at each one, sums the sizes of all the attributes already in
    (to refuse an item over DynamoDB's 400 KB), so building an item of n attributes walks them n times; a run item
    has dozens, each step writes several. Sizes are never negative, so a prefix of the item passes the limit exactly
    when the whole does: the item is built first and its size checked once, refusing the same items with the same
    error."""
    from moto.dynamodb.exceptions import ItemSizeTooLarge
    from moto.dynamodb.models.dynamo_type import DynamoType, Item, LimitedSizeDict
    from moto.dynamodb.models.utilities import bytesize

    original = Item.__init__

    def item_init(self: Any, hash_key: Any, range_key: Any, attrs: dict[str, Any]) -> None:
        self.hash_key = hash_key
        self.range_key = range_key
        values = LimitedSizeDict.__new__(LimitedSizeDict)
        dict.__init__(values)
        for key, value in attrs.items():
            dict.__setitem__(values, key, DynamoType(value))
        if sum(bytesize(key) + value.size() for key, value in values.items()) > ITEM_SIZE_LIMIT:
            raise ItemSizeTooLarge
        self.attrs = values

    Item.__init__ = item_init  # type: ignore[method-assign]

    def undo() -> None:
        Item.__init__ = original  # type: ignore[method-assign]

    return undo


# moto's own figure for DynamoDB's item size limit (moto.dynamodb.models.dynamo_type.LimitedSizeDict).
ITEM_SIZE_LIMIT = 405_000


def _parse_each_json_path_once() -> Callable[[], None]:
    """moto's Step Functions engine parses a state's JSONPath ($.run_id, $.org_id, ...) with jsonpath_ng, which
    builds its grammar's parser anew for every expression, at every evaluation: about a millisecond each, a dozen
    per state. A parsed path is an immutable tree that `find` only reads, so each path text is parsed once."""
    from functools import lru_cache

    from moto.stepfunctions.parser.asl.utils import json_path

    original = json_path.parse
    json_path.parse = lru_cache(maxsize=1_024)(original)

    def undo() -> None:
        json_path.parse = original

    return undo


def _parse_each_update_expression_once() -> Callable[[], None]:
    """moto tokenises and parses an UpdateExpression twice per update (once to check the request, once to apply it),
    and the store's writes repeat the same few expressions. The tree it parses is only read (its validator works on a
    deep copy), so each expression text is parsed once; a text that fails to parse raises as before, every time."""
    from functools import lru_cache

    # moto's own modules import it the same way: the parser module has no annotations mypy can follow.
    from moto.dynamodb.parsing.expressions import UpdateExpressionParser  # type: ignore[attr-defined]

    original = UpdateExpressionParser.__dict__["make"]
    parse: Any = lru_cache(maxsize=1_024)(original.__func__)
    UpdateExpressionParser.make = classmethod(parse)

    def undo() -> None:
        UpdateExpressionParser.make = original

    return undo


def _list_handler_methods_once() -> Callable[[], None]:
    """moto lists a response class's methods (inspect.getmembers over the whole class) on every request, to check
    that the action exists. A class's methods do not change while the local engine runs, so each class's list is
    made once."""
    from moto.core import responses

    original = responses.method_names_from_class
    known: dict[object, list[str]] = {}

    def method_names_from_class(clazz: object) -> list[str]:
        names = known.get(clazz)
        if names is None:
            names = known[clazz] = original(clazz)
        return names

    responses.method_names_from_class = method_names_from_class

    def undo() -> None:
        responses.method_names_from_class = original

    return undo


# Reads too: moto keeps items in defaultdicts, so looking up a missing partition inserts an entry.
_DYNAMODB_OPERATIONS = (
    "put_item",
    "update_item",
    "delete_item",
    "transact_write_items",
    "batch_write_item",
    "get_item",
    "query",
    "scan",
    "batch_get_item",
    "transact_get_items",
)


def _serialize_dynamodb_requests() -> Callable[[], None]:
    """moto's DynamoDB is not thread-safe: a transaction deep-copies the table while other threads (the API, running
    executions) use it, and a failed one restores that copy over their writes. In AWS the service serialises this;
    here one lock does."""
    import threading

    from moto.dynamodb.models import DynamoDBBackend

    lock = threading.RLock()
    originals = {name: getattr(DynamoDBBackend, name) for name in _DYNAMODB_OPERATIONS}

    def locked(method: Callable[..., Any]) -> Callable[..., Any]:
        def call(self: Any, *args: Any, **kwargs: Any) -> Any:
            with lock:
                return method(self, *args, **kwargs)

        return call

    for name, method in originals.items():
        setattr(DynamoDBBackend, name, locked(method))

    def undo() -> None:
        for name, method in originals.items():
            setattr(DynamoDBBackend, name, method)

    return undo


# Item operations, whose answers hold items and counts only (no timestamps or blobs outside attribute values).
_PLAIN_JSON_OPERATIONS = frozenset(
    {
        "GetItem",
        "PutItem",
        "UpdateItem",
        "DeleteItem",
        "Query",
        "Scan",
        "BatchGetItem",
        "BatchWriteItem",
        "TransactGetItems",
        "TransactWriteItems",
    }
)


def _item_responses_as_plain_json() -> Callable[[], None]:
    """moto serialises each answer by walking botocore's output shape member by member, which took about a third of
    a step's time in the local engine (a run item holds hundreds of attribute values). DynamoDB's JSON protocol is
    the answer as it stands (binary attribute values as base64), so an item operation's answer is dumped directly,
    without its null members, and reads the same once botocore parses it (tests compare the two for every value
    type). Everything else (errors, table descriptions) goes through moto's serialiser."""
    from email.utils import formatdate

    from moto.dynamodb.responses import DynamoHandler, DynamoResult

    original = DynamoResult.execute_result

    def execute_result(self: Any, context: Any) -> Any:
        result = self.result
        if context.operation_model.name not in _PLAIN_JSON_OPERATIONS or not isinstance(result, dict):
            return original(self, context)
        headers = {
            "Content-Type": "application/x-amz-json-1.0",
            "server": "amazon.com",
            "date": formatdate(usegmt=True),
        }
        return 200, headers, json.dumps(_without_nulls(result), separators=(",", ":"), default=_base64)

    DynamoResult.execute_result = execute_result  # type: ignore[method-assign]
    # moto answers TransactWriteItems as a plain ActionResult, which its serialiser walks too; as a DynamoResult it is
    # dumped like the other item operations.
    original_transact = DynamoHandler.transact_write_items

    def transact_write_items(self: Any) -> Any:
        return DynamoResult(original_transact(self).result)

    DynamoHandler.transact_write_items = transact_write_items  # type: ignore[method-assign]

    def undo() -> None:
        DynamoResult.execute_result = original  # type: ignore[method-assign]
        DynamoHandler.transact_write_items = original_transact  # type: ignore[method-assign]

    return undo


# A "B" or "BS" member anywhere in a request: a binary attribute value (or an attribute so named, to be safe).
_BINARY_MEMBER = re.compile(r'"BS?"\s*:')


def _item_requests_read_as_plain_json() -> Callable[[], None]:
    """moto reads each request by walking botocore's input shape member by member, as it writes answers; for an
    item operation that walked the whole item (a run's hundreds of attribute values) on every write. In DynamoDB's
    JSON protocol the request is its parameters as they stand, except binary values (base64 text, which moto's reader
    decodes to bytes), so a request without any is read with json.loads; one with a binary value, and everything
    else, goes through moto's reader. boto3 has validated the request against the same shapes before sending it."""
    from botocore.awsrequest import AWSPreparedRequest
    from moto.dynamodb.responses import DynamoHandler

    original = DynamoHandler.parse_parameters
    own = "parse_parameters" in DynamoHandler.__dict__  # else inherited from moto's BaseResponse

    def parse_parameters(self: Any, request: Any) -> None:
        body = self.body
        if (
            isinstance(request, AWSPreparedRequest)
            and isinstance(body, str)
            and self._get_action() in _PLAIN_JSON_OPERATIONS
            and not _BINARY_MEMBER.search(body)
        ):
            self.params = json.loads(body) if body else {}
            return
        original(self, request)

    DynamoHandler.parse_parameters = parse_parameters  # type: ignore[method-assign]

    def undo() -> None:
        if own:
            DynamoHandler.parse_parameters = original  # type: ignore[method-assign]
        else:
            del DynamoHandler.parse_parameters

    return undo


def _base64(value: Any) -> str:
    # Binary attribute values moto keeps as bytes: the protocol's blobs are base64 text.
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode("ascii")
    raise TypeError(f"{type(value).__name__} in a DynamoDB answer")


def _without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _without_nulls(member) for key, member in value.items() if member is not None}
    if isinstance(value, list):
        return [_without_nulls(member) for member in value]
    return value


def _query_one_partition() -> Callable[[], None]:
    """moto answers a query on the table's own key by testing every item of the table against the partition key, so
    each read of a run's steps or transcript grew with everything the stack ever stored. The table keeps its items by
    partition, so a query of one partition looks at that partition's items only; index queries are left as they are.
    DynamoDB requests are serialised (above), so the shortcut is never seen by another request."""
    import inspect

    from moto.dynamodb.models.table import Table as MotoTable

    original = MotoTable.query
    signature = inspect.signature(original)

    def query(self: Any, *args: Any, **kwargs: Any) -> Any:
        bound = signature.bind(self, *args, **kwargs)
        hash_key = bound.arguments.get("hash_key")
        if bound.arguments.get("index_name") or hash_key is None:
            return original(self, *args, **kwargs)
        partition = self.items.get(hash_key)  # .get: a missing key must not create an entry of the defaultdict
        members = list(partition.values()) if isinstance(partition, dict) else ([partition] if partition else [])
        self.all_items = lambda: members
        try:
            return original(self, *args, **kwargs)
        finally:
            del self.all_items

    MotoTable.query = query  # type: ignore[method-assign]

    def undo() -> None:
        MotoTable.query = original  # type: ignore[method-assign]

    return undo


def _reuse_parsed_definitions_and_clients() -> Callable[[], None]:
    """moto's Step Functions engine parses the state machine's definition (an ANTLR grammar) at the start of every
    execution, and builds a new boto3 client for every Lambda task it invokes; the two took tens of milliseconds per
    run and per step. A parsed program keeps no execution's state (that lives in each execution's environment: its
    heap holds retry attempts, its stack the values), so one is kept per definition; the Lambda client is kept per
    region (it is made with fixed test credentials and no retries, and boto3 clients are thread-safe)."""
    import threading

    from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils
    from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

    original_entrypoint = ExecutionWorker._get_evaluation_entrypoint
    original_client_for = lambda_eval_utils.boto_client_for
    programs: dict[str, Any] = {}
    clients: dict[tuple[str, str], Any] = {}
    lock = threading.Lock()

    def entrypoint(self: Any) -> Any:
        definition = self._evaluation_details.state_machine_details.definition
        with lock:
            program = programs.get(definition)
        if program is None:
            program = original_entrypoint(self)
            with lock:
                programs.setdefault(definition, program)
        return program

    def client_for(region: str, service: str, state_credentials: Any = None) -> Any:
        # moto's own function makes the same client whatever the state's credentials (it does not use them).
        with lock:
            client = clients.get((region, service))
            if client is None:
                client = clients[(region, service)] = original_client_for(region, service)
        return client

    ExecutionWorker._get_evaluation_entrypoint = entrypoint  # type: ignore[method-assign]
    lambda_eval_utils.boto_client_for = client_for

    def undo() -> None:
        ExecutionWorker._get_evaluation_entrypoint = original_entrypoint  # type: ignore[method-assign]
        lambda_eval_utils.boto_client_for = original_client_for

    return undo


def _roll_back_only_touched_items() -> Callable[[], None]:
    """moto backs a transaction up by deep-copying each table it writes, once per operation, so every step of a run
    costs a copy of the whole table and grows with it. Here the backup holds only the items the transaction names,
    and a failed transaction puts exactly those back (all DynamoDB requests are serialised, so nobody sees between)."""
    import copy as copy_module
    import types

    import moto.dynamodb.models as dynamodb_models
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.table import Table as MotoTable

    original = DynamoDBBackend.transact_write_items

    def deepcopy(value: Any, memo: Any = None) -> Any:
        # The whole-table backup becomes the table itself; its "restore" is then a no-op, and ours below does it.
        return value if isinstance(value, MotoTable) else copy_module.deepcopy(value, memo)

    shim = types.SimpleNamespace(deepcopy=deepcopy, copy=copy_module.copy)

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        backups: list[tuple[str, dict[str, Any], Any]] = []
        for entry in transact_items:
            try:
                op_type, op = next(iter(entry.items()))
                table = self.get_table(op["TableName"])
                if op_type == "Put":
                    key = {table.hash_key_attr: op["Item"][table.hash_key_attr]}
                    if table.range_key_attr is not None:
                        key[table.range_key_attr] = op["Item"][table.range_key_attr]
                else:
                    key = op["Key"]
                current = self.get_item(op["TableName"], key)
            except Exception:  # noqa: S112 - a malformed operation: moto reports it below and writes nothing for it
                continue
            backups.append((op["TableName"], key, copy_module.deepcopy(current)))
        saved = dynamodb_models.copy
        dynamodb_models.copy = shim  # type: ignore[assignment]
        try:
            original(self, transact_items)
        except Exception:
            for table_name, key, item in reversed(backups):
                if item is None:
                    if self.get_item(table_name, key) is not None:
                        self.delete_item(table_name, key)
                else:
                    self.put_item(table_name, item.to_json()["Attributes"])
            raise
        finally:
            dynamodb_models.copy = saved

    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]

    def undo() -> None:
        DynamoDBBackend.transact_write_items = original  # type: ignore[method-assign]

    return undo


def _copy_state_machines_without_executions() -> Callable[[], None]:
    """moto deep-copies a state machine, with its executions, at every StartExecution; an execution waiting on a task
    token holds a lock, which cannot be copied. The copy only needs the definition, so executions are left out."""
    from moto.stepfunctions.models import StateMachine

    def deepcopy_without_executions(self: Any, memo: dict[int, Any]) -> Any:
        clone = self.__class__.__new__(self.__class__)
        memo[id(self)] = clone
        for name, value in self.__dict__.items():
            setattr(clone, name, [] if name == "executions" else copy.deepcopy(value, memo))
        return clone

    had = "__deepcopy__" in StateMachine.__dict__
    previous = StateMachine.__dict__.get("__deepcopy__")
    StateMachine.__deepcopy__ = deepcopy_without_executions  # type: ignore[attr-defined]

    def undo() -> None:
        if had:
            StateMachine.__deepcopy__ = previous  # type: ignore[attr-defined]
        else:
            del StateMachine.__deepcopy__  # type: ignore[attr-defined]

    return undo


def create_resources(
    clients: Any, *, table_name: str, bucket_name: str, region: str, statemachines_dir: Path, registry: HandlerRegistry
) -> dict[str, str]:
    """Create the table, the bucket and one state machine per ASL file; returns workflow name -> ARN."""
    dynamodb = clients.dynamodb
    if table_name not in dynamodb.list_tables()["TableNames"]:
        dynamodb.create_table(**create_table_request(table_name))
        dynamodb.update_time_to_live(
            TableName=table_name, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"}
        )
    s3 = clients.s3
    existing = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
    if bucket_name not in existing:
        if region == "us-east-1":
            s3.create_bucket(Bucket=bucket_name)
        else:
            s3.create_bucket(Bucket=bucket_name, CreateBucketConfiguration={"LocationConstraint": region})
    values = {placeholder_for(name): function_arn(region, name) for name in registry.paths}
    values.update({"TableName": table_name, "BucketName": bucket_name})
    sfn = clients.stepfunctions
    existing_machines = {m["name"]: m["stateMachineArn"] for m in sfn.list_state_machines()["stateMachines"]}
    arns: dict[str, str] = {}
    for path in sorted(statemachines_dir.glob("*.asl.json")):
        workflow = path.name.removesuffix(".asl.json")
        definition = substitute(path.read_text(), values)
        name = f"agentlab-{workflow}"
        if name in existing_machines:
            sfn.update_state_machine(stateMachineArn=existing_machines[name], definition=definition)
            arns[workflow] = existing_machines[name]
        else:
            arns[workflow] = sfn.create_state_machine(
                name=name, definition=definition, roleArn=STATE_MACHINE_ROLE, type="STANDARD"
            )["stateMachineArn"]
    return arns


def put_browser_cors(clients: Any, *, bucket_name: str, origins: Sequence[str]) -> None:
    """The bucket's CORS configuration as the CDK stack deploys it: the one browser rule, for the dashboard's
    origins. Put on every start, so a changed rule takes effect and a snapshot never carries an old one."""
    clients.s3.put_bucket_cors(
        Bucket=bucket_name, CORSConfiguration={"CORSRules": [BROWSER_CORS_RULE.for_origins(origins)]}
    )
