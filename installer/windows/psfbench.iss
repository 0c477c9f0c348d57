; psfbench for Windows: Inno Setup 6 script around the PyInstaller one-folder bundle.
;
; NOT BUILT OR RUN YET: it was written on Linux, where neither the Windows bundle nor Inno
; Setup can run. Build steps, the CPU/CUDA torch choice and what to check on a Windows
; machine: installer/README.md ("Windows").
;
;   iscc installer\windows\psfbench.iss                          (CPU build, version 0.1.0)
;   iscc /DAppVersion=0.2.0 /DTorchFlavour=cu126 installer\windows\psfbench.iss
;
; Input: installer\dist\psfbench\ (psfbench.exe, psfbench-gui.exe, _internal\), made by
;   pyinstaller --noconfirm --distpath installer\dist --workpath installer\build\work installer\psfbench.spec
; Output: installer\dist\psfbench-<version>-<flavour>-setup.exe

#ifndef AppVersion
  #define AppVersion "0.1.0"
#endif
#ifndef TorchFlavour
  #define TorchFlavour "cpu"
#endif
#ifndef BundleDir
  #define BundleDir "..\dist\psfbench"
#endif

[Setup]
AppId={{5B0F3D52-9C1E-4E0B-9A59-6B1C2F4E7A31}
AppName=psfbench
AppVersion={#AppVersion}
AppVerName=psfbench {#AppVersion} ({#TorchFlavour})
AppPublisher=psfbench developers
DefaultDirName={autopf}\psfbench
DefaultGroupName=psfbench
DisableProgramGroupPage=yes
; all users by default (the PATH entry goes to the machine's PATH); "just for me" allowed
PrivilegesRequired=admin
PrivilegesRequiredOverridesAllowed=dialog
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
MinVersion=10.0
OutputDir=..\dist
OutputBaseFilename=psfbench-{#AppVersion}-{#TorchFlavour}-setup
SetupIconFile=..\icons\psfbench.ico
UninstallDisplayIcon={app}\psfbench-gui.exe
; the CPU bundle is ~1.2 GB on disk; a CUDA torch makes it ~4 GB: lzma2 in one solid block
Compression=lzma2/normal
SolidCompression=yes
LZMANumBlockThreads=4
; a setup above ~2 GB (CUDA) must be split: Inno writes setup.exe + setup-1.bin ...
#if TorchFlavour != "cpu"
DiskSpanning=yes
DiskSliceSize=max
#endif
ChangesEnvironment=yes
WizardStyle=modern

[Tasks]
Name: "desktopicon"; Description: "Create a &desktop shortcut"; Flags: unchecked
Name: "addtopath"; Description: "Add the psfbench &command to PATH"

[Files]
Source: "{#BundleDir}\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs
Source: "..\README.md"; DestDir: "{app}"; DestName: "INSTALLER-README.md"; Flags: ignoreversion

[Icons]
Name: "{autoprograms}\psfbench"; Filename: "{app}\psfbench-gui.exe"
Name: "{autoprograms}\psfbench command prompt"; Filename: "{cmd}"; \
  Parameters: "/k ""{app}\psfbench.exe"" --help"; WorkingDir: "{userdocs}"
Name: "{autodesktop}\psfbench"; Filename: "{app}\psfbench-gui.exe"; Tasks: desktopicon

[Run]
; the same check `make installer-test` runs on Linux, from the installed copy (hidden window)
Filename: "{app}\psfbench.exe"; Parameters: "gui --self-test"; \
  Description: "Check the installation (opens and closes the main window)"; \
  Flags: postinstall skipifsilent unchecked runhidden waituntilterminated
Filename: "{app}\psfbench-gui.exe"; Description: "Start psfbench"; \
  Flags: postinstall skipifsilent nowait

[Code]
{ PATH: the machine's (all users) or the user's ("just for me"), added once, removed on uninstall }
function EnvKey(var Root: Integer): String;
begin
  if IsAdminInstallMode then begin
    Root := HKEY_LOCAL_MACHINE;
    Result := 'SYSTEM\CurrentControlSet\Control\Session Manager\Environment';
  end else begin
    Root := HKEY_CURRENT_USER;
    Result := 'Environment';
  end;
end;

procedure EditPath(Add: Boolean);
var
  Root, P: Integer;
  Key, Path, Dir: String;
begin
  Key := EnvKey(Root);
  Dir := ExpandConstant('{app}');
  if not RegQueryStringValue(Root, Key, 'Path', Path) then Path := '';
  P := Pos(';' + Uppercase(Dir) + ';', ';' + Uppercase(Path) + ';');
  if Add and (P = 0) then begin
    if (Path <> '') and (Path[Length(Path)] <> ';') then Path := Path + ';';
    RegWriteExpandStringValue(Root, Key, 'Path', Path + Dir);
  end else if (not Add) and (P > 0) then begin
    Delete(Path, P, Length(Dir) + 1);
    RegWriteExpandStringValue(Root, Key, 'Path', Path);
  end;
end;

procedure CurStepChanged(CurStep: TSetupStep);
begin
  if (CurStep = ssPostInstall) and WizardIsTaskSelected('addtopath') then EditPath(True);
end;

procedure CurUninstallStepChanged(CurUninstallStep: TUninstallStep);
begin
  if CurUninstallStep = usPostUninstall then EditPath(False);
end;
