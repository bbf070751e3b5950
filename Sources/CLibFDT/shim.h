/* The one C header scmi-dt sees: Debian's libfdt-dev (link -lfdt, no pkg-config file). */
#ifndef SCMI_DT_CLIBFDT_SHIM_H
#define SCMI_DT_CLIBFDT_SHIM_H
#include <libfdt.h>
#endif
