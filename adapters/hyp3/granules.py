"""The names of the input scenes HyP3 jobs take (ESA and USGS granule ids), one pattern each.

Job-list checks (`adapters.hyp3.jobs`) and product-name parsing (`adapters.hyp3.names`, for the two granule
names inside an autoRIFT product name) both use these; match them with ``fullmatch``.
"""

from __future__ import annotations

import re

#: a Sentinel-1 GRD or SLC scene: S1A_IW_SLC__1SDV_20200203T172103_20200203T172122_031091_03929B_3048
S1_SCENE = re.compile(
    r"S1(?P<unit>[A-D])_(?P<beam>IW|EW|S[1-6])_(?P<product>GRD[HM]|SLC_)_1S(?P<mode>[SD])(?P<pol_primary>[HV])"
    r"_(?P<start>\d{8}T\d{6})_(?P<stop>\d{8}T\d{6})_(?P<absolute_orbit>\d{6})_[0-9A-F]{6}_[0-9A-F]{4}"
)
#: a Sentinel-1 burst: S1_136231_IW2_20200604T022312_VV_7C85-BURST
S1_BURST = re.compile(
    r"S1_(?P<burst_id>\d{6})_(?P<swath>IW[1-3])_(?P<start>\d{8}T\d{6})_(?P<pol>VV|VH|HH|HV)_[0-9A-F]{4}-BURST"
)
#: a Sentinel-2 L1C product: S2B_MSIL1C_20200612T150759_N0209_R025_T22WEB_20200612T184700
S2_L1C = re.compile(
    r"S2(?P<unit>[A-C])_MSIL1C_(?P<start>\d{8}T\d{6})_N\d{4}_R(?P<relative_orbit>\d{3})_T\d{2}[A-Z]{3}_\d{8}T\d{6}"
)
#: a Sentinel-2 L1C scene by its COG id: S2B_22WEB_20200612_0_L1C
S2_L1C_COG = re.compile(r"S2(?P<unit>[A-C])_\d{1,2}[A-Z]{3}_(?P<date>\d{8})_\d+_L1C")
#: a Landsat Collection 1/2 Level-1 scene: LC08_L1TP_009011_20200703_20200913_02_T1
LANDSAT_L1 = re.compile(
    r"L(?P<sensor>[COTEM])0(?P<number>[4-9])_L1(?:TP|GT|GS)_\d{6}_(?P<date>\d{8})_\d{8}_\d{2}_(?:T1|T2|RT)"
)
