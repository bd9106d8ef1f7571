"""TLS, mutual TLS and bearer tokens through the Python client, against a
real optd with certificates made by openssl for the test: a tenant's
sessions are invisible to another tenant, calls without a token are
refused, and a client without a certificate cannot connect."""

import pathlib
import subprocess
import tempfile
import unittest

import optd_server  # noqa: F401  (sets sys.path, builds the stubs)
import optd
from optd_server import OptdServer

ALICE = "alice-0123456789abcdef"
BOB = "bob-0123456789abcdef01"

OPENSSL = r"""
set -e
key() { openssl ecparam -name prime256v1 -genkey -noout -out "$1.key"; }
key ca
openssl req -x509 -new -key ca.key -out ca.pem -days 2 -subj /CN=test-ca
leaf() {
  key "$1"; openssl req -new -key "$1.key" -out "$1.csr" -subj "/CN=$1"
  printf '%s\n' "$2" > "$1.ext"
  openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key -CAcreateserial \
    -out "$1.pem" -days 2 -extfile "$1.ext"
}
leaf server "subjectAltName=DNS:localhost,IP:127.0.0.1"
leaf client "extendedKeyUsage=clientAuth"
"""


def rosen(x):
    a, b = 1.0 - x[0], x[1] - x[0] ** 2
    return a * a + 100 * b * b, [-2 * a - 400 * x[0] * b, 200 * b]


class SecurityTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.TemporaryDirectory(prefix="optd-py-tls-")
        d = pathlib.Path(cls.dir.name)
        subprocess.run(["bash", "-c", OPENSSL], cwd=d, check=True,
                       capture_output=True)
        (d / "tokens").write_text(f"{ALICE} alice\n{BOB} bob\n")
        cls.files = {name: str(d / name) for name in (
            "ca.pem", "client.pem", "client.key")}
        cls.server = OptdServer(
            f"--tls_cert={d / 'server.pem'}", f"--tls_key={d / 'server.key'}",
            f"--tls_client_ca={d / 'ca.pem'}", f"--tokens_file={d / 'tokens'}")
        cls.address = f"localhost:{cls.server.port}"

    @classmethod
    def tearDownClass(cls):
        code = cls.server.stop()
        cls.dir.cleanup()
        assert code == 0, code

    def connect(self, token=None, cert=True, **kwargs):
        tls = dict(tls_ca=self.files["ca.pem"])
        if cert:
            tls.update(tls_cert=self.files["client.pem"],
                       tls_key=self.files["client.key"])
        tls.update(kwargs)
        return optd.connect(self.address, timeout=30, connect_timeout=5,
                            bearer_token=token, **tls)

    def test_tenants_and_tokens(self):
        alice = self.connect(ALICE)
        session = alice.create_session([-1.2, 1.0], solver="lbfgs",
                                       session_id="py-exp")
        trial = session.ask()
        f, g = rosen(trial.x)
        trial.tell(f, g)
        self.assertEqual(alice.get_session("py-exp").tells, 1)

        bob = self.connect(BOB)
        with self.assertRaises(optd.NotFound) as caught:
            bob.get_session("py-exp")
        self.assertNotIn("alice", str(caught.exception))
        self.assertEqual(list(bob.list_sessions()), [])

        with self.assertRaises(optd.Unauthenticated):
            list(self.connect(None).list_sessions())
        with self.assertRaises(optd.Unauthenticated):
            list(self.connect("wrong-token-0123456789").list_sessions())
        alice.delete_session("py-exp")
        for c in (alice, bob):
            c.close()

    def test_a_token_set_on_the_client_holds_for_its_sessions(self):
        alice = self.connect(ALICE)
        with alice.create_session([-1.2, 1.0], solver="lbfgs") as session:
            trial = session.ask()
            alice.metadata = (("authorization", f"Bearer {BOB}"),)
            try:  # Bob does not see Alice's session
                with self.assertRaises(optd.NotFound):
                    session.ask()
                with self.assertRaises(optd.NotFound):
                    trial.tell(*rosen(trial.x))
                with self.assertRaises(optd.NotFound):
                    next(session.trials())
            finally:
                alice.metadata = (("authorization", f"Bearer {ALICE}"),)
            self.assertIsNotNone(trial.tell(*rosen(trial.x)).trial)
        alice.close()

    def test_mutual_tls_needs_a_certificate(self):
        with self.assertRaises(optd.Unavailable):
            self.connect(ALICE, cert=False)
        with self.assertRaises(optd.InvalidArgument):
            optd.tls_credentials(self.files["ca.pem"],
                                 cert=self.files["client.pem"])
        # By IP address, the certificate's name given explicitly.
        client = optd.connect(f"127.0.0.1:{self.server.port}", timeout=30,
                              connect_timeout=5, bearer_token=ALICE,
                              tls_ca=self.files["ca.pem"],
                              tls_cert=self.files["client.pem"],
                              tls_key=self.files["client.key"],
                              tls_server_name="localhost")
        self.assertEqual(list(client.list_sessions()), [])
        client.close()


if __name__ == "__main__":
    unittest.main()
