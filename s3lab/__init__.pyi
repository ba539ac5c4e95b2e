# The public API of s3lab, written once: exactly the names the notebooks use (a test checks
# both ways). s3lab/__init__.py reads this file with lazy_loader, so `import s3lab` imports
# none of these modules until a name is first used; mypy and editors read it for the types.
# Grouped by job; each name's module is where a reader finds what it does.

# where requests go: resolved once, then passed
from .backends import rehearse as rehearse
from .backends import use as use

# buckets: names, make, remove, usage, put, what it costs
from .buckets import make_bucket as make_bucket
from .buckets import remove_bucket as remove_bucket
from .buckets import usage as usage
from .buckets.cost import fill_cost as fill_cost
from .buckets.names import NAME_RULES as NAME_RULES
from .buckets.names import unique_name as unique_name
from .buckets.transfer import put as put

# the exercises' self-checks
from .checks import check as check

# where the aws command's files are (chapter 30 shows them)
from .configure.awsfiles import config_path as config_path
from .configure.awsfiles import credentials_path as credentials_path

# configure: regions, the checks of a set-up
from .configure.doctor import doctor as doctor
from .configure.regions import check_region as check_region

# errors: the one table from AWS errors to fixes
from .errors import translate as translate

# install: what the AWS CLI's signature check trusts
from .install.download import pretty_fingerprint as pretty_fingerprint
from .install.plans import AWSCLI_FINGERPRINT as AWSCLI_FINGERPRINT

# mount: the folder, and what a mounted bucket does
from .mount import mounted_under as mounted_under
from .mount import unmount_all as unmount_all
from .mount import unmount_at_exit as unmount_at_exit
from .mount.semantics import compare as compare
from .mount.semantics import semantics as semantics
from .mount.tools import pick_tool as pick_tool

# the IAM policy that covers the book
from .notebooks import book_policy as book_policy

# the sandbox: the documented fake keys, and a stand-in for an EC2 instance role
from .sandbox import FAKE_ACCESS_KEY_ID as FAKE_ACCESS_KEY_ID
from .sandbox import FAKE_SECRET_ACCESS_KEY as FAKE_SECRET_ACCESS_KEY
from .sandbox.imds import start_instance_role as start_instance_role
