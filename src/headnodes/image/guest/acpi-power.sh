#!/bin/sh
# acpid's action for the power button (QEMU's system_powerdown): a clean poweroff through init.
exec /bin/poweroff
