// lib/runtime — LXD and Incus. client is the gateway: every call of `lxc`/`incus` goes through it,
// as an argv built in argv and output parsed in parse; detect finds which runtime is installed;
// host-setup, host-daemon, image-build and apt-source install and initialise it (`isollm setup`).
export * from './argv.ts';
export * from './choose.ts';
export * from './client.ts';
export * from './detect.ts';
export * from './host-setup.ts';
export * from './parse.ts';
