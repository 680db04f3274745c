import hashlib
import hmac

from mintrace_supervision.webhooks import next_round_in, sign, verify


def test_signature_is_the_hmac_sha256_of_the_exact_body():
    body = b'{"alert":{"alert_id":"a-1"}}'
    assert sign("s3cret", body) == "sha256=" + hmac.new(b"s3cret", body,
                                                        hashlib.sha256).hexdigest()
    assert verify("s3cret", body, sign("s3cret", body))
    assert not verify("other", body, sign("s3cret", body))
    assert not verify("s3cret", body + b" ", sign("s3cret", body))


def test_failed_rounds_wait_exponentially_longer_up_to_an_hour():
    waits = [next_round_in(n) for n in range(1, 12)]
    assert waits[:3] == [30, 60, 120]
    assert waits == sorted(waits) and waits[-1] == 3600
