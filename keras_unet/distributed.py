"""Training across machines: ``--strategy multiworker`` (MultiWorkerMirroredStrategy).

Every worker runs the same ``python -m keras_unet.train ... --strategy multiworker`` command with
its own ``TF_CONFIG`` (the cluster's ``host:port`` addresses and this worker's task). Each step
every worker takes its share of the global batch, gradients are summed across workers by
TensorFlow's collective ops, and all workers apply the same update to the same weights.

Keras 3's ``Model.fit`` cannot run under this strategy (keras-team/keras#20585: it reduces the
first batch and every scalar log across workers in ways the strategy refuses), so this module
trains with a loop of its own, and only for this strategy: :func:`fit_across_workers` runs the
compiled model's own loss (:meth:`keras.Model.compute_loss`, exactly what ``fit`` optimises),
optimizer and learning-rate schedule through ``strategy.run`` and ``tf.GradientTape``, and drives
the run's Keras callbacks (history, checkpoints, TensorBoard) as ``fit`` would. Everything else
(data, model card, validation threshold) is :func:`keras_unet.train.train`'s.

Only the chief (the ``chief`` task, or worker 0 when the cluster has none) writes the run folder;
the other workers write to a temporary folder removed when they exit, as TensorFlow's
multi-worker guide says (saving can need every worker).
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import json
import os
import shutil
import socket
import tempfile
import time
from dataclasses import dataclass
from typing import Any

from keras_unet.config import ConfigError, TrainConfig

#: The environment variable TensorFlow reads the cluster and this worker's task from.
TF_CONFIG_ENV = "TF_CONFIG"
#: Cluster roles MultiWorkerMirroredStrategy uses (no parameter servers, no evaluator).
ROLES: tuple[str, ...] = ("chief", "worker")
#: Seconds a worker waits for every other worker to join before it gives up (one line, exit 2);
#: the environment variable of that name overrides it (workers started far apart).
JOIN_TIMEOUT_S: float = 600.0
JOIN_TIMEOUT_ENV = "VESSEL_JOIN_TIMEOUT"


@dataclass(frozen=True)
class WorkerTask:
    """This process's place in the cluster, as ``TF_CONFIG`` states it.

    Attributes:
        role: ``chief`` or ``worker``.
        index: Index within that role's address list.
        address: This task's ``host:port``.
        addresses: Every task's ``host:port``, the chief (if any) first.
    """

    role: str
    index: int
    address: str
    addresses: tuple[str, ...]

    @property
    def is_chief(self) -> bool:
        """Whether this task writes the run folder (the chief, or worker 0 without one)."""
        return self.address == self.addresses[0]

    def __str__(self) -> str:
        return f"{self.role} {self.index} ({self.address}) of {len(self.addresses)} tasks"


def tf_config(addresses: list[str], index: int, role: str = "worker") -> str:
    """The ``TF_CONFIG`` value of task ``role index`` in a cluster of ``worker`` addresses."""
    return json.dumps({"cluster": {"worker": addresses}, "task": {"type": role, "index": index}})


def local_addresses(count: int) -> list[str]:
    """``count`` free ``localhost:port`` addresses for a cluster on this machine (tests,
    benchmarks): ports the system gives out now, free until something else takes them."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("localhost", 0))
        return [f"localhost:{s.getsockname()[1]}" for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _refuse(problem: str) -> ConfigError:
    return ConfigError(
        f"{TF_CONFIG_ENV}: {problem} (see docs/cohort.md, 'Training across workers')"
    )


def read_tf_config(text: str | None) -> tuple[dict[str, list[str]], str, int]:
    """Check a ``TF_CONFIG`` value and return its cluster, task role and task index.

    Args:
        text: The variable's value (``None`` when unset).

    Raises:
        ConfigError: One line naming what is missing or wrong.
    """
    if not text or not text.strip():
        raise _refuse(
            "not set; --strategy multiworker needs the cluster and this worker's task, e.g. "
            '{"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
            '"task": {"type": "worker", "index": 0}}'
        )
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _refuse(f"not valid JSON ({exc})") from None
    if not isinstance(value, dict) or not isinstance(value.get("cluster"), dict):
        raise _refuse("no 'cluster' object")
    cluster = value["cluster"]
    unknown = [role for role in cluster if role not in ROLES]
    if unknown:
        raise _refuse(
            f"cluster role {unknown[0]!r} is not used by MultiWorkerMirroredStrategy "
            f"(only {' and '.join(ROLES)})"
        )
    if not cluster.get("worker") and not cluster.get("chief"):
        raise _refuse("cluster lists no 'worker' addresses")
    if len(cluster.get("chief", [])) > 1:
        raise _refuse(f"cluster lists {len(cluster['chief'])} chiefs; at most one")
    seen: set[str] = set()
    for role in ROLES:
        addresses = cluster.get(role, [])
        if not isinstance(addresses, list):
            raise _refuse(f"cluster {role!r} must be a list of host:port addresses")
        for address in addresses:
            host, _, port = str(address).rpartition(":")
            if not isinstance(address, str) or not host or not port.isdigit():
                raise _refuse(f"cluster {role!r} address {address!r} is not host:port")
            if address in seen:
                raise _refuse(f"address {address} is listed twice")
            seen.add(address)
    task = value.get("task")
    if not isinstance(task, dict) or task.get("type") not in ROLES:
        raise _refuse(
            "no 'task' with a 'type' of chief or worker (which of the cluster's tasks this is)"
        )
    role, index = task["type"], task.get("index", 0)
    if isinstance(index, bool) or not isinstance(index, int):
        raise _refuse(f"task index must be an integer, received {index!r}")
    count = len(cluster.get(role, []))
    if not 0 <= index < count:
        raise _refuse(f"task {role} {index} is not in the cluster ({count} {role} address(es))")
    return cluster, role, index


def worker_task(environ: dict[str, str] | None = None) -> WorkerTask:
    """This process's task from ``TF_CONFIG`` (checked: see :func:`read_tf_config`)."""
    environ = os.environ if environ is None else environ
    cluster, role, index = read_tf_config(environ.get(TF_CONFIG_ENV))
    addresses = tuple(cluster.get("chief", []) + cluster.get("worker", []))
    return WorkerTask(role, index, cluster[role][index], addresses)


_STRATEGY: Any = None


def _split(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host.strip("[]"), int(port)


def _listen(port: int) -> socket.socket:
    if socket.has_dualstack_ipv6():
        return socket.create_server(("", port), family=socket.AF_INET6, dualstack_ipv6=True)
    return socket.create_server(("", port))


def rendezvous(task: WorkerTask, timeout: float) -> None:
    """Wait until every task of the cluster has started, before TensorFlow's own wait.

    TensorFlow waits for the other workers inside its C++ runtime, holding Python's lock: a
    missing worker leaves the others hanging, deaf to Ctrl+C and SIGTERM. So each worker first
    listens on its own port (free: TensorFlow's server takes it next) and says hello to every
    other one; it goes on once it has reached all of them and heard from all of them (then
    every other worker has reached it too, so closing its port strands nobody).

    Raises:
        ConfigError: Not every worker joined within ``timeout`` seconds (naming those that
            did not), or this worker's port is taken.
        KeyboardInterrupt: Ctrl+C while waiting.
    """
    others = {a for a in task.addresses if a != task.address}
    if not others:
        return
    try:
        server = _listen(_split(task.address)[1])
    except OSError as exc:
        raise _refuse(f"{task}: cannot listen on port {_split(task.address)[1]} ({exc})") from None
    server.settimeout(0.2)
    reached: set[str] = set()
    heard: set[str] = set()
    deadline = time.monotonic() + timeout
    with server:
        while reached != others or heard != others:
            if time.monotonic() > deadline:
                missing = ", ".join(sorted(others - (reached & heard)))
                raise _refuse(
                    f"{task}: the other workers did not all start within {timeout:.0f} s "
                    f"(waiting for {missing}; {JOIN_TIMEOUT_ENV} sets the wait)"
                )
            for address in sorted(others - reached):
                try:
                    with socket.create_connection(_split(address), timeout=1) as peer:
                        peer.sendall(task.address.encode() + b"\n")
                    reached.add(address)
                except OSError:
                    pass
            try:
                connection, _ = server.accept()
            except TimeoutError:
                continue
            with connection:  # The peer closes first (no TIME_WAIT on this port).
                connection.settimeout(2)
                data = b""
                with contextlib.suppress(OSError):
                    while chunk := connection.recv(256):
                        data += chunk
            if data.decode(errors="replace").strip() in others:
                heard.add(data.decode().strip())


def join_timeout() -> float:
    """Seconds to wait for the other workers (:data:`JOIN_TIMEOUT_ENV`, or the default)."""
    text = os.environ.get(JOIN_TIMEOUT_ENV, "").strip()
    try:
        return float(text) if text else JOIN_TIMEOUT_S
    except ValueError:
        raise ConfigError(f"{JOIN_TIMEOUT_ENV} must be seconds, received {text!r}") from None


def multiworker_strategy():
    """The process's ``MultiWorkerMirroredStrategy`` from ``TF_CONFIG`` (built once).

    It must be built before anything initialises TensorFlow's runtime (collective ops are
    configured at start-up): :func:`keras_unet.train.train` builds it once the data are loaded
    and the run folder is ready (so that the chief's mistakes stop it before the others wait
    for it), and before any TensorFlow work.

    Raises:
        ConfigError: ``TF_CONFIG`` missing or wrong, or not every worker joined in time.
    """
    global _STRATEGY
    if _STRATEGY is None:
        task = worker_task()
        rendezvous(task, join_timeout())
        import tensorflow as tf

        # AUTO: NCCL between GPUs, ring all-reduce over gRPC between CPUs.
        _STRATEGY = tf.distribute.MultiWorkerMirroredStrategy()
    return _STRATEGY


def worker_config(config: TrainConfig, resume: bool) -> TrainConfig:
    """Check ``TF_CONFIG`` and return the configuration this worker trains with.

    The chief keeps ``config``; any other worker gets a copy whose run folder lies in a temporary
    folder, removed when the process exits (it trains and saves exactly as the chief does, but
    nothing of it is kept).

    Raises:
        ConfigError: ``TF_CONFIG`` missing or wrong, or ``resume`` (the other workers would
            need the chief's checkpoint).
    """
    task = worker_task()
    if resume:
        raise ConfigError("--resume is not supported with --strategy multiworker")
    join_timeout()  # A wrong value is refused before any work.
    if task.is_chief:
        return config
    scratch = tempfile.mkdtemp(prefix=f"keras_unet_{task.role}{task.index}_")
    atexit.register(shutil.rmtree, scratch, ignore_errors=True)
    return dataclasses.replace(config, runs_dir=scratch)


def _validation_logs(model, val_ds, loss_name: str) -> dict[str, float]:
    """``val_loss`` and the training metrics on the validation images, as ``fit`` logs them.

    Every worker computes them on all validation images with the same weights (no collective
    op), so all workers take the same checkpoint decisions. The FOV is the sample weight.
    """
    from keras_unet.losses import get_loss, training_metrics

    loss_fn, metrics = get_loss(loss_name), training_metrics()
    total, count = 0.0, 0
    for image, label, weight in val_ds:
        prediction = model(image, training=False)
        batch = int(image.shape[0])
        total += float(loss_fn(label, prediction, sample_weight=weight)) * batch
        count += batch
        for metric in metrics:
            metric.update_state(label, prediction, sample_weight=weight)
    return {"val_loss": total / count, **{f"val_{m.name}": float(m.result()) for m in metrics}}


def fit_across_workers(
    model,
    train_ds,
    val_ds,
    callbacks: list,
    config: TrainConfig,
    state: dict[str, Any],
    verbose: int,
) -> None:
    """Train ``model`` (built and compiled in the strategy's scope) for ``config.epochs`` epochs.

    Each step every worker draws the next global batch of ``train_ds`` and keeps its own share
    (tf.data ``DATA`` auto-sharding: together the workers train on exactly the patches one
    worker would), runs the model, the compiled loss and its gradients on its share, and the
    optimizer sums the gradients across workers before the update. The logged ``loss`` is the
    global batch's (``strategy.reduce``), averaged over the epoch's steps as ``fit`` does.

    Args:
        model: The compiled model.
        train_ds: Endless dataset of global batches ``(image, label)``.
        val_ds: Validation batches ``(image, label, fov_weight)``, or ``None``.
        callbacks: The run's Keras callbacks (CSV history, checkpoints, TensorBoard ...).
        config: The run's settings (epochs, steps per epoch).
        state: The run's state; ``workers`` and ``replicas`` are recorded in it.
        verbose: Keras progress mode (0, 1 or 2); other workers than the chief are silent.
    """
    import keras
    import tensorflow as tf

    strategy = multiworker_strategy()
    task = worker_task()
    state.update(
        workers=len(task.addresses),
        replicas=int(strategy.num_replicas_in_sync),
        chief=task.addresses[0],
    )
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    batches = iter(strategy.experimental_distribute_dataset(train_ds.with_options(options)))

    def replica_step(batch):
        image, label = batch
        with tf.GradientTape() as tape:
            prediction = model(image, training=True)
            # Keras divides each replica's loss by the replica count: gradients summed over
            # replicas are those of the global batch.
            loss = model.compute_loss(x=image, y=label, y_pred=prediction, training=True)
            scaled = model.optimizer.scale_loss(loss)  # Loss scaling under mixed precision.
        gradients = tape.gradient(scaled, model.trainable_weights)
        model.optimizer.apply_gradients(zip(gradients, model.trainable_weights, strict=True))
        return loss

    @tf.function
    def train_step(iterator):
        loss = strategy.run(replica_step, args=(next(iterator),))
        return strategy.reduce(tf.distribute.ReduceOp.SUM, loss, axis=None)

    verbose = verbose if task.is_chief else 0
    callback_list = keras.callbacks.CallbackList(
        callbacks,
        add_history=True,
        add_progbar=verbose != 0,
        model=model,
        verbose=verbose,
        epochs=config.epochs,
        steps=config.steps_per_epoch,
    )
    model.stop_training = False
    callback_list.on_train_begin()
    logs: dict[str, float] = {}
    for epoch in range(config.epochs):
        callback_list.on_epoch_begin(epoch)
        total = 0.0
        for step in range(config.steps_per_epoch):
            callback_list.on_train_batch_begin(step)
            total += float(train_step(batches))
            logs = {"loss": total / (step + 1)}
            callback_list.on_train_batch_end(step, logs)
            if model.stop_training:
                break
        if val_ds is not None:
            logs.update(_validation_logs(model, val_ds, config.loss))
        callback_list.on_epoch_end(epoch, logs)
        if model.stop_training:
            break
    callback_list.on_train_end(logs)
