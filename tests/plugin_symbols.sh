#!/bin/sh
# plugin_symbols.sh PLUGIN.so... - checks that each plugin defines exactly
# one dynamic symbol, lcmflow_plugin_entry (plugin.h): everything else,
# static libraries linked in included, must be hidden.
status=0
for plugin in "$@"; do
    symbols=$(nm -D --defined-only "$plugin" | awk '{ print $NF }' | sort) || {
        echo "$plugin: cannot read its dynamic symbols" >&2
        exit 1
    }
    if [ "$symbols" != "lcmflow_plugin_entry" ]; then
        echo "$plugin: defines dynamic symbols other than lcmflow_plugin_entry:" >&2
        echo "$symbols" | grep -vx lcmflow_plugin_entry | head -20 >&2
        status=1
    else
        echo "$plugin: only lcmflow_plugin_entry"
    fi
done
exit $status
