"""Training over several workers (``MultiWorkerMirroredStrategy``): a small loop in place of ``model.fit``.

Keras 3's ``model.fit`` does not run under a multi-worker strategy (its symbolic build cannot reduce a
``PerReplica`` batch across workers and its per-step log reduction fails on scalars). :func:`fit` takes the
same arguments and drives the same callbacks, epoch by epoch:

* each step runs Keras' own ``model.train_step`` in every replica (``strategy.run``): the compiled loss is
  scaled by ``1 / num_replicas_in_sync`` and the optimizer all-reduces (sums) the gradients before applying
  them, so every worker applies the same update; the metric variables are sum-aggregated, so their results
  are global and equal on every worker;
* the dataset is distributed with ``experimental_distribute_dataset``: each global batch of ``batch_size``
  (the single-worker batch) is split between the replicas, every worker taking its own part;
* variables updated outside the optimizer (batch-norm moving mean and variance) are averaged over the workers
  at the end of each epoch (:func:`_make_sync`). Their update is an exponential moving average, linear in
  the batch statistics, so the epoch-end mean equals a moving average of the workers' mean batch statistics;
* validation, checkpoints and early stopping run in each worker's callbacks on local predictions
  (:func:`_predict_locally`): the workers hold the same weights, so they score alike and decide alike.
"""

from __future__ import annotations

import keras
import tensorflow as tf


def fit(model, strategy, dataset, *, epochs: int, initial_epoch: int, steps_per_epoch: int, callbacks, verbose: int):
    """``model.fit`` over a multi-worker strategy (the arguments ``_fit_stages`` passes to ``fit``).

    Args:
        model: A model built and compiled under ``strategy.scope()``.
        strategy: The ``MultiWorkerMirroredStrategy``.
        dataset: The (repeating) training dataset, batched at the global batch size.
        epochs: Index of the last epoch plus one.
        initial_epoch: First epoch (``BackupAndRestore`` may move it later, as in ``fit``).
        steps_per_epoch: Global batches per epoch.
        callbacks: Keras callbacks, called like ``fit`` calls them.
        verbose: Progress bar verbosity (0: silent).

    Returns:
        The model's ``History`` callback.
    """
    _predict_locally(model)
    with strategy.scope():
        model._symbolic_build(data_batch=dataset.element_spec)  # metrics, loss and optimizer state, as fit does
    callbacks = keras.callbacks.CallbackList(
        callbacks,
        add_history=True,
        add_progbar=verbose != 0,
        verbose=verbose,
        epochs=epochs,
        steps=steps_per_epoch,
        model=model,
    )
    iterator = iter(strategy.experimental_distribute_dataset(dataset))
    step, sync = _make_step(model, strategy), _make_sync(model, strategy)
    model.stop_training = False
    callbacks.on_train_begin()
    logs = None
    for epoch in range(model._initial_epoch or initial_epoch, epochs):
        _run_epoch(model, epoch, iterator, step, steps_per_epoch, callbacks)
        sync()  # before the callbacks score validation and save weights
        logs = _to_floats(model.get_metrics_result())
        callbacks.on_epoch_end(epoch, logs)
        if model.stop_training:
            break
    model.optimizer.finalize_variable_values(model.trainable_weights)
    callbacks.on_train_end(logs=logs)
    return model.history


def _run_epoch(model, epoch: int, iterator, step, steps: int, callbacks) -> None:
    """Train one epoch (metrics reset first), stopping early when a callback sets ``model.stop_training``.

    Args:
        model: The model.
        epoch: Epoch index (for the callbacks).
        iterator: Iterator over the distributed dataset.
        step: Function of :func:`_make_step`.
        steps: Steps per epoch.
        callbacks: The ``CallbackList``.
    """
    model.reset_metrics()
    callbacks.on_epoch_begin(epoch)
    for batch in range(steps):
        callbacks.on_train_batch_begin(batch)
        logs = _to_floats(step(iterator))
        callbacks.on_train_batch_end(batch, logs)
        if model.stop_training:  # every worker sees the same global logs, so all stop at the same step
            break


def _make_step(model, strategy):
    """One training step on the next distributed batch, in every replica.

    Args:
        model: The compiled model.
        strategy: Its strategy.

    Returns:
        A ``tf.function(iterator) -> {metric: value}``: the metric results of the first local replica (the
        metric variables are sum-aggregated, so every replica holds the global values).
    """

    @tf.function
    def step(iterator):
        results = strategy.run(model.train_step, args=(next(iterator),))
        return {name: strategy.experimental_local_results(value)[0] for name, value in results.items()}

    return step


def _make_sync(model, strategy):
    """A function averaging the model's non-trainable float variables over all replicas (batch-norm statistics).

    Frozen weights are equal everywhere and stay so (the mean of equal values is exact); integer state (random
    seed generators) advances alike on every worker and is left alone.

    Args:
        model: The model.
        strategy: Its strategy.

    Returns:
        A ``tf.function() -> None``, to call at the same point on every worker (it is a collective operation).
    """
    variables = [v for v in model.non_trainable_variables if "float" in str(v.dtype)]

    def replica_average():
        context = tf.distribute.get_replica_context()
        means = context.all_reduce(tf.distribute.ReduceOp.MEAN, [_local_value(v) for v in variables])
        for variable, mean in zip(variables, means):
            variable.assign(mean)  # variables not aggregated by Keras: each replica writes its own copy

    @tf.function
    def sync():
        if variables:
            strategy.run(replica_average)

    return sync


def _local_value(variable):
    """This replica's value of ``variable`` as a tensor placed on its device.

    A cross-replica reduction needs the device of each value it reduces, and a plain read inside a
    ``tf.function`` is not placed yet ("destinations can not be empty").

    Args:
        variable: A Keras variable created under the strategy.

    Returns:
        A tensor on the device of this replica's copy.
    """
    with tf.device(variable.value.device):
        return tf.identity(variable.value)


def _predict_locally(model) -> None:
    """Make ``model.predict`` run on this worker alone (each worker scores whole sets, no collective operation).

    Keras distributes ``predict`` over the strategy the model was built under: across workers it would shard
    the validation set. Clearing it (and the cached predict function) leaves prediction to the default
    strategy, which reads this worker's copy of each variable.

    Args:
        model: The model built under the multi-worker strategy.
    """
    model._distribute_strategy = None
    model.predict_function = None


def _to_floats(logs: dict) -> dict:
    """Metric tensors as Python floats (what callbacks and the CSV history receive).

    Args:
        logs: ``{name: scalar tensor}``.

    Returns:
        ``{name: float}``.
    """
    return {name: float(value) for name, value in logs.items()}
