"""English dates on the intranet: "27 Nov 2026", "27 Nov 2026 14:05", "27 Nov", "Nov 2026".

Templates ask for these by name (`|date:"DATE_FORMAT"`), so Chinese pages get Django's zh_Hans
formats ("2026年11月27日") instead.
"""

DATE_FORMAT = "j M Y"
DATETIME_FORMAT = "j M Y H:i"
MONTH_DAY_FORMAT = "j M"
YEAR_MONTH_FORMAT = "M Y"
