"""What the tests need besides the tests: real servers, the service's processes, an HTTP
client's helpers, the store opened in this process, and the fixtures over them.

One job per module:

- ``env``: the repository's root, CI or not, the environment of the processes started.
- ``processes``: starting, waiting on and stopping child processes.
- ``redis``, ``postgres``: a Redis database and a PostgreSQL database of this run's.
- ``service``: the API and Celery workers as processes, and a keyed API beside them.
- ``serve``: ``adamlab serve`` as a child process, waited on until /readyz answers.
- ``client``: submitting experiments and polling them over HTTP.
- ``scripted_api``: an API of scripted answers, for commands run in the test's process.
- ``store``: the store's engine and sessions in this process.
- ``task``: the experiment task's function run in this process, on such a store.
- ``threads``: one intra-op torch thread for the tests that train.
- ``concurrency``: calls made at the same moment, for the tests of races.
- ``fixtures``: the pytest fixtures over the above (a plugin, see tests/conftest.py).
"""
