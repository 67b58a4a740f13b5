/// Private JWKs made once with joserfc from openssl-generated keys (test-only keys), with their public PEMs.
enum JWKFixtures {
    static let rsaJWK = #"""
{"n": "vWhH4XcLc6MZtPUs1bJ4jQKkcm_G7lcyNi_dTQGVEgubA2pPOoGiRPa8zL0FWvpT6ZKvmDgoxbGc2Sgrle-z0OHB9jAYOpWhYL2NkmscBKZNfEpOkSnxFvG2D53vku265q5PiduBuyVB5YvPd5ECqHgPpICLbxT2CisBSC0LnTJiEYFA3_TSmsB5KdlHnlp-7l5OyrsQo_KarcN46R4ESgBfTpcu3jlif8ZbFprT3R_j9QAHkHCwi63juhWdW9bnbvKRZUMU4Gmg7o0OcWx0mfoDNGq2zXgXAr-cqhQ_ZTHuWvAn3OejTUZVp-XPj8KJJyP4-knP32_onv7Us0sY7Q", "e": "AQAB", "d": "Rl3FAp7i6sGHzeIeF4AX6C84n-kl6ysK1PXAThkN5CfanZCzwYUin2NZLej1YeDJJuffg3otr5B2OHkDhE8Kq0oL8KXagn1PeGzDeUeAn7uW4tuKR8TgtAj1feTLefcG7ieJFiquDjRfwGNKHt4JMkR0b0VwR8LuS0XB0qole-71dYDAq4FfKlMZ1JKb96kzRroVWQJsCVMEYkZRzn-mydF41z6KEGyAzEuLtrP6VEJbC_HhNQ1KD9aA3uZAd6H3LiI3C7KF3gQ8bRqcfaNVpWobGPlK_LVr4s1pa9IBW3RYwJns6OAaDV_oyT2zAVeBbUGp5O4PvCLfALLjtEmOww", "p": "6eK4rQzillF53sNjD84FjqrhvLwCmv2X3RuLZh6cDTG5cCbSr1uadJndoSOCd2kZPMPuRDnJ93x9wF8df-wpclrzKdmrP4xtaM2cnXinK76cRAnoMw5j2CGcLcc4GjE3KbP0OPDk7FT9fv2SkFUqAv0x_lDawX39JRbOL5ALBwM", "q": "z1DyqjT93KvV0Yk7z1mh9m5cU8eSZEBI_BY9xXhJCX7SUSh1IG8VlQ79l5dRZs1cIHz6o-VTqbkC2FNO4v42OyB2sFJiJV5kt6z0RdbGKjG38dLfi_Pw-q-PTF1oBwLkDLFClbmRSS2wDT0nb6BZWxgQgu7fHgDFtJRqB1B1pU8", "dp": "oqn4XwKzJHCOHgwt_XQAEXVvgmAQP9NXp4Pcs61eQx7uJb4akbNX_Ph2V_fmaT5DOyvZrsGyYdnHa9-7GJkbSllO_TBSFeSIw3cdEbg0LAxpijiJsdi0QEE_6ebAchcAkpSBqoh_7o49r_CT2qYgjeuitYluW1xQj1cJF7NKuBk", "dq": "u5vKbeMUlJzgGwWwnVzEp8iJPrvMq3JNWesarVfD6Jbe5tjQ3bAI_OIa9RLXdEuFAlV3T9gY1O97Np51Ng_MrcccAUYcUSrRxDH8wDKzE734cxtcdz8jJQi4iefBWw7vptjGo83RP0LcHa7owCiAlGH7lzFpsbILN_ZS2RmjzRs", "qi": "uGhg1GM97UWv3KPrgORKoYZgSxvifPyYv568p_KFkXmnj3ljn1pso_IjZmTjGywWo5hE3dQBBvJXfXJIMu0n3J-bJRkX2OX_9N5lD8eMN_qLzvky6swjguDlRa9iDMTRvLqUgA6x6Qwt9DEL2A5K45Ci6hVSkHzCy26VvWGPKhA", "kty": "RSA"}
"""#
    static let rsaPublicPEM = """
-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAvWhH4XcLc6MZtPUs1bJ4
jQKkcm/G7lcyNi/dTQGVEgubA2pPOoGiRPa8zL0FWvpT6ZKvmDgoxbGc2Sgrle+z
0OHB9jAYOpWhYL2NkmscBKZNfEpOkSnxFvG2D53vku265q5PiduBuyVB5YvPd5EC
qHgPpICLbxT2CisBSC0LnTJiEYFA3/TSmsB5KdlHnlp+7l5OyrsQo/KarcN46R4E
SgBfTpcu3jlif8ZbFprT3R/j9QAHkHCwi63juhWdW9bnbvKRZUMU4Gmg7o0OcWx0
mfoDNGq2zXgXAr+cqhQ/ZTHuWvAn3OejTUZVp+XPj8KJJyP4+knP32/onv7Us0sY
7QIDAQAB
-----END PUBLIC KEY-----
"""

    static let ec256JWK = #"""
{"crv": "P-256", "x": "p1VfJH8ZeKuFFI4lxeeOR49ETpYTzSGuX8Dar1SOdVg", "y": "QIblqZGy6GqsWHxv1jMVKGHq29mk4Eg0xD83_VuYPxM", "d": "SiWdxulDygsG7n3ZBOBpd44xvD7564kPhFIIbemON2c", "kty": "EC"}
"""#
    static let ec256PublicPEM = """
-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEp1VfJH8ZeKuFFI4lxeeOR49ETpYT
zSGuX8Dar1SOdVhAhuWpkbLoaqxYfG/WMxUoYerb2aTgSDTEPzf9W5g/Ew==
-----END PUBLIC KEY-----
"""

    static let ec521JWK = #"""
{"crv": "P-521", "x": "AMawlSriMT3EVosxVVtuM_AHA2sMUHC50sauppd0lxCodhYOqNMeoeaY3b3w3nirzRJaWiRrXsg3LkBwxRL-x9KS", "y": "AFE6jL_zjuCM8gPhb8OlYr3xYtryGg9L_9BPd8ICzILXUMPtGwaLvydXSNx7Q65DVhqL8wC7l6Km8JIJsrtkemjV", "d": "ARyGapoEX7QEW94iY_brDlo1HyJvFrw1-OwiFnSWiwoKspwmVp89vxl_1s7YSCbeVrC-4JiNrxzWtzRHxfgtMrwr", "kty": "EC"}
"""#
    static let ec521PublicPEM = """
-----BEGIN PUBLIC KEY-----
MIGbMBAGByqGSM49AgEGBSuBBAAjA4GGAAQAxrCVKuIxPcRWizFVW24z8AcDawxQ
cLnSxq6ml3SXEKh2Fg6o0x6h5pjdvfDeeKvNElpaJGteyDcuQHDFEv7H0pIAUTqM
v/OO4IzyA+Fvw6VivfFi2vIaD0v/0E93wgLMgtdQw+0bBou/J1dI3HtDrkNWGovz
ALuXoqbwkgmyu2R6aNU=
-----END PUBLIC KEY-----
"""

    static let edJWK = #"""
{"crv": "Ed25519", "x": "QmzZCh-UexzSbQkh3wCaerPZmuBDu4_0i9nUvqNlCYI", "d": "2_GU4dvtSbZ6FMYskBXmn_91RiBjvcd-e1d3diYnfm8", "kty": "OKP"}
"""#
    static let edPublicPEM = """
-----BEGIN PUBLIC KEY-----
MCowBQYDK2VwAyEAQmzZCh+UexzSbQkh3wCaerPZmuBDu4/0i9nUvqNlCYI=
-----END PUBLIC KEY-----
"""
}
