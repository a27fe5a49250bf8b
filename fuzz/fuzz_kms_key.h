/*
 * A fixed RSA-2048 key for fuzzing only (fuzz/fuzz_kms.c and the seed it gets from
 * fuzz/corpus_gen.c): the Recipient key a fuzzed Decrypt answer is opened with, fixed so that the
 * committed seed (a CiphertextForRecipient encrypted to it) reaches the decryption path. It
 * protects nothing.
 */
#ifndef EML_FUZZ_KMS_KEY_H
#define EML_FUZZ_KMS_KEY_H

static const char eml_fuzz_kms_rsa_pem[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MIIEvAIBADANBgkqhkiG9w0BAQEFAASCBKYwggSiAgEAAoIBAQDwLn6eL9CUDS8d\n"
    "gUVzg/LuIysmi9vim93HAShaUATR4cJYD2v/wJZ0FG3CCb041olgl+mdG/I0VHaH\n"
    "rR9oKRV4HYtbP5xzoXgOfVBXN6AaDwaqZZ2mKdg6ZqtlvQPGlrVofyRMwGHkQac/\n"
    "MayQKduxjTxXcmnNLOCa/Yp2JW4U56y1dIQFj2tD+s8baKblVdJerTAcJfsWgQWL\n"
    "cG46+lv7Mtnlu3/uTLcTvuRaN1VNHuiHwosOh2olRRfFoh9X6joWAMr7L50pg+Kl\n"
    "wndLORy6sh98+idA6mpGpcMz33xTfYHOFBSAh1oz+ui7j67OT0rYabzDpNeIJn5c\n"
    "aWTykkLXAgMBAAECggEAdKL/li4+Kkekw71NTuWbCY5GnDd7Frb+om+rewA09v+d\n"
    "c0o59j8+USzCiGJWY827dQ8Qwd0aZ9NEpGqsP9cDuAsQ68UeYwDc3px4cYJv23fE\n"
    "kuc6AcF8YhAN2CBMPxpdClwD8snSQBip8YRb+r55E+Y0kXrcamkKwfmyTeGrbbaL\n"
    "UALm2DynOzVo2n7fSz8BWIHCCZiOu7I5VQSc+J8rq3cNApBd4sGkerL/OnLv3deO\n"
    "uhZpaGAzvVaA5/yujxwzLF0a/kdqm300aZt3dp0YZ5gr4FBEyUqNHD2TcA7bGeaN\n"
    "8jX1LZCQR6ylw1lMGaYMGX/MLB4n8LW+TQnKjNd/YQKBgQD5Bb3haVPTmzxHMQCH\n"
    "BZaMj82agGS6Fuen4Fc/VRFsH3K7nNkNY1pIxHA5KWf7xAiqRe4ji/S9ZKZmv9CO\n"
    "C2k/EhkcctLY2LhbC9SyJmhry4Jzv/5rz+EHcIk7IJpVq83uaMy4gJPXEd81Eint\n"
    "k2kge8uK3Gaa8r/Zij32bskG6QKBgQD26VZHyY4kO42sOdEUtVaSFS7Pk6h5/ouz\n"
    "CNtLdaJf+6VoxddLkeJuFPI27lGwHK2S0NaUiFXc/IL4hxGXYa9XpHStdbKWHwWb\n"
    "NJQjXhUFxiyy7Ogg+SA+P0DwqbOlg8gHq3P9rsq/cXnyXudogAJ7QNXw0GVw/Vg8\n"
    "xuhdx1pjvwKBgDqq76E7f1RLLlhXYxhsaJuVBYtw1EpDOzCB2gxBrmkav50Txs8w\n"
    "qQSbwxS0fJsEBEaZUxFs16wHGmz6o9fTOGhzixb4tlQAOu64StPt2IwM1h8PDJG5\n"
    "1/o4uRwFAldMsqeIaTLOmAYDX+LQ9K/UGuBcSgfdBQ9cQXau6woz74iBAoGAMOUQ\n"
    "MvMU9NPeQEbKwqEOXatYM7731AC2RWPxmUXYO82nedIDynE/N7FqLbqP7qIfNT2p\n"
    "4IwHBNX0Uabdsu6jPGXSvS7biKLoB04oL8DHxPbzjxMe/LiYy/rWr1HLw3EPQYWQ\n"
    "WKIugC7GiVqF1MnUs/eo5iE+lVt2B8MT7M43dh0CgYA/iRaIBU/RppDdO1UPzkHG\n"
    "IxCCg7dkHxyhH9lgY3buoVUDe7Rgfn5t5sNo34BklyVoXltPUsmRNuxnGTpa4rsV\n"
    "Zsw4wvXvIvquIq+jvovq1x1Tb3/XIKq6K49wTQO9dr7qLODPY/1McgjzE+j96POn\n"
    "CMr4iKLUiRglPZ1Xjf6cwg==\n"
    "-----END PRIVATE KEY-----\n";

#endif
