"""`grader worker`'s dask worker command line: over tls:// it takes the certificates folder as the
client does (--certs, else $GRADER_CLUSTER_CERTS), and says in one line how to make one without either."""

import pytest

from grader.batch.dask_client import CERTS_ENV
from grader.commands.worker import worker_argv
from grader.errors import GraderError


def test_tls_takes_the_certificates_from_certs_or_the_environment_as_the_client_does(tmp_path, monkeypatch):
    monkeypatch.setenv(CERTS_ENV, str(tmp_path / "from-env"))
    argv = worker_argv("tls://10.0.0.1:8786", "tls", None, 2)
    assert argv[argv.index("--tls-ca-file") + 1] == str(tmp_path / "from-env" / "ca.pem")
    assert argv[argv.index("--tls-cert") + 1] == str(tmp_path / "from-env" / "worker.pem")
    argv = worker_argv("tls://10.0.0.1:8786", "tls", tmp_path / "given", 2)
    assert argv[argv.index("--tls-key") + 1] == str(tmp_path / "given" / "worker-key.pem")
    monkeypatch.delenv(CERTS_ENV)
    with pytest.raises(GraderError, match=r"--certs DIR or \$GRADER_CLUSTER_CERTS \(made by `grader cluster certs"):
        worker_argv("tls://10.0.0.1:8786", "tls", None, 2)
    assert "--tls-ca-file" not in worker_argv("tcp://127.0.0.1:8786", "tcp", None, 1)
