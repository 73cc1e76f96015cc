"""The virtual reader (`vitale-sim emulate`): emulated board, USB serial pty, world, runtimes, control channel.

- hardware.py  `VirtualHardware`: PN532 emulator with the phone, camera, LED/buzzer/display (the device contract)
- serial.py    `PtyPort`, `HostLink`: the USB serial as a pty, shared with the emulator's own link requests
- world.py     `World`: the test authority, patients, phones and screens
- provision.py provisioning through the host link
- runtime.py   `Runtime`, `CPythonRuntime` (the MicroPython VM runtime lives in vitale_tools.mpvm.device)
- reader.py    `VirtualReader`: all of it together, and the control commands
"""
